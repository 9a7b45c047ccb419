"""Remote state: a testbed's Terraform state in an S3-compatible store (teams, CI fleets).

The OpenTofu/Terraform `s3` backend talks to any S3 API (Ceph RGW, Swift's S3 layer, MinIO);
locking is the backend's `use_lockfile` (a `<key>.tflock` object written with a conditional
PUT), so no DynamoDB is needed. Configured once per machine in a small JSON file (no secrets:
the credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment and are
never written anywhere by scs-testbed).

A testbed keeps the backend it was created with: its record (testbed.json) names it, and the
working directory holds `backend.s3.tfbackend`, which `terraform init -backend-config=` reads.
State key of testbed NAME: `<prefix>/<NAME>/terraform.tfstate`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scs_testbed.errors import InputError

CONFIG_VARIABLE = "SCS_TESTBED_REMOTE_STATE_CONFIG"
BACKEND_FILE = "backend.s3.tfbackend"
STATE_OBJECT = "terraform.tfstate"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# `use_lockfile` came with Terraform 1.10 and OpenTofu 1.10: older CLIs reject the attribute.
LOCKFILE_VERSION = (1, 10, 0)
DEFAULT_REGION = "us-east-1"  # S3-compatible stores accept any region name; AWS's own default
DEFAULT_PREFIX = "scs-testbed"
# S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens (path-style access).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")


@dataclass(frozen=True)
class RemoteState:
    """Where the states of this machine's new testbeds live."""

    endpoint: str
    bucket: str
    region: str = DEFAULT_REGION
    prefix: str = DEFAULT_PREFIX

    def key(self, name: str) -> str:
        """The object key of testbed `name`'s state."""
        return f"{self.prefix}/{name}/{STATE_OBJECT}"

    def describe(self) -> str:
        return f"s3 {self.endpoint} bucket {self.bucket}, keys {self.prefix}/<testbed>/"

    def backend_settings(self, name: str) -> dict[str, Any]:
        """The `s3` backend's settings for testbed `name` (SMOKE.md: the S3-compatible set)."""
        return {
            "bucket": self.bucket,
            "key": self.key(name),
            "region": self.region,
            "endpoints": {"s3": self.endpoint},
            "use_path_style": True,
            "use_lockfile": True,
            # not AWS: no STS, no account lookup, no EC2 metadata, no AWS-only checksums
            "skip_credentials_validation": True,
            "skip_region_validation": True,
            "skip_requesting_account_id": True,
            "skip_metadata_api_check": True,
            "skip_s3_checksum": True,
        }

    def as_record(self, name: str) -> dict[str, Any]:
        """What testbed.json keeps about the backend (no credentials)."""
        return {"type": "s3", **asdict(self), "key": self.key(name)}


def config_path() -> Path:
    """$SCS_TESTBED_REMOTE_STATE_CONFIG, else $XDG_CONFIG_HOME/scs-testbed/remote-state.json."""
    explicit = os.environ.get(CONFIG_VARIABLE)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "scs-testbed" / "remote-state.json"


def check_settings(endpoint: str, bucket: str, region: str, prefix: str) -> RemoteState:
    """A RemoteState from user input; InputError naming the bad value and the fix."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"remote state endpoint {endpoint!r} is not an http(s) URL",
            hint="give the S3 API's URL, e.g. --endpoint https://s3.example.com",
        )
    if parts.username or parts.password:
        raise InputError(
            "remote state endpoint carries credentials in the URL",
            hint="give the URL without user:password@; the credentials come from "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
        )
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InputError(
            f"remote state bucket {bucket!r} is not a valid S3 bucket name",
            hint="3-63 characters: lower-case letters, digits, '.' and '-'",
        )
    if not region.strip() or any(c.isspace() for c in region):
        raise InputError(f"remote state region {region!r} is empty or has spaces")
    prefix = prefix.strip("/")
    if not _PREFIX.match(prefix) or ".." in prefix.split("/"):
        raise InputError(
            f"remote state prefix {prefix!r} is not usable as an object key prefix",
            hint="letters, digits, '.', '_', '-' and '/', e.g. --prefix team-a/testbeds",
        )
    return RemoteState(endpoint.rstrip("/"), bucket, region, prefix)


def load_config() -> RemoteState | None:
    """The configured remote state, or None (local state). InputError when the file is bad."""
    path = config_path()
    if not os.path.lexists(path):
        return None
    hint = f"fix it with `scs-testbed remote-state set ...`, or remove {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        message = f"remote state configuration {path} cannot be read: {error}"
        raise InputError(message, hint=hint) from None
    except ValueError as error:
        message = f"remote state configuration {path} is not valid JSON: {error}"
        raise InputError(message, hint=hint) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), str) for key in ("endpoint", "bucket")
    ):
        raise InputError(
            f"remote state configuration {path} needs the strings endpoint and bucket", hint=hint
        )
    unknown = sorted(set(data) - {"endpoint", "bucket", "region", "prefix"})
    if unknown:
        raise InputError(
            f"remote state configuration {path} has unknown keys: {', '.join(unknown)}",
            hint=f"{hint}; credentials never belong there (AWS_* environment variables)",
        )
    try:
        return check_settings(
            data["endpoint"],
            data["bucket"],
            str(data.get("region") or DEFAULT_REGION),
            str(data.get("prefix") or DEFAULT_PREFIX),
        )
    except InputError as error:
        raise InputError(f"{path}: {error.message}", hint=error.hint or hint) from None


def save_config(state: RemoteState) -> Path:
    """Write the configuration (0600 in a 0700 directory; it holds no secrets, but names them)."""
    from scs_testbed.state_dir import ensure_private_dir, write_atomic

    path = config_path()
    ensure_private_dir(path.parent)
    write_atomic(path, json.dumps(asdict(state), indent=2) + "\n")
    return path


def remove_config() -> bool:
    """Forget the configuration (new testbeds use local state again); True when one existed."""
    path = config_path()
    if not os.path.lexists(path):
        return False
    path.unlink()
    return True


def missing_credentials() -> list[str]:
    """The credential variables the backend needs and the environment lacks."""
    if os.environ.get("AWS_PROFILE"):
        return []
    return [name for name in CREDENTIAL_VARIABLES if not os.environ.get(name)]


def require_credentials(state: RemoteState) -> None:
    """InputError before Terraform starts when the store's credentials are not set."""
    missing = missing_credentials()
    if missing:
        raise InputError(
            f"remote state ({state.describe()}) needs {' and '.join(missing)} in the environment",
            hint="export the S3 access key and secret of the store (they are never written to "
            "disk by scs-testbed), or `scs-testbed remote-state unset` for local state",
        )


def backend_file_text(state: RemoteState, name: str) -> str:
    """`backend.s3.tfbackend` (HCL attributes; JSON values are valid HCL literals)."""
    lines = ["# written by scs-testbed: the s3 backend of this testbed (no credentials here)"]
    for key, value in state.backend_settings(name).items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def from_record(record: Any) -> RemoteState | None:
    """The RemoteState recorded in testbed.json (`backend`), or None for local state."""
    if not isinstance(record, dict) or record.get("type") != "s3":
        return None
    return check_settings(
        str(record.get("endpoint", "")),
        str(record.get("bucket", "")),
        str(record.get("region") or DEFAULT_REGION),
        str(record.get("prefix") or DEFAULT_PREFIX),
    )


def parse_state(text: str, where: str) -> list[dict[str, Any]]:
    """Managed resources of a state printed by `terraform state pull` (none when empty)."""
    from scs_testbed.errors import TerraformError

    if not text.strip():
        return []
    try:
        state = json.loads(text)
    except ValueError as error:
        raise TerraformError(f"the state in {where} is not JSON: {error}") from None
    resources = state.get("resources") if isinstance(state, dict) else None
    if not isinstance(resources, list):
        raise TerraformError(f"the state in {where} is not a Terraform state")
    return [r for r in resources if isinstance(r, dict) and r.get("mode") == "managed"]


# --------------------------------------------------------------------------- testbeds

RECORD_OUTPUT = "scs_testbed"  # root-module output carrying what a second machine needs


def backend_of(workspace: Any) -> RemoteState | None:
    """The backend a testbed uses: the recorded one; local for a testbed recorded without
    one (it stays where its state is); the configured one for a new testbed."""
    meta = workspace.read_meta() if workspace.exists else None
    if meta is not None:
        return from_record(meta.get("backend"))
    return load_config()


def is_remote(workdir: Path) -> bool:
    """True when the root module in `workdir` declares a backend (the state is not local)."""
    try:
        module = json.loads((workdir / "main.tf.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    terraform = module.get("terraform") if isinstance(module, dict) else None
    return isinstance(terraform, dict) and bool(terraform.get("backend"))


def add_backend(
    module: dict[str, Any], state: RemoteState, name: str, environment: str
) -> dict[str, Any]:
    """The root module with the s3 backend and the record output a second machine reads.

    The record holds the variables (no secrets: the cloud's name, sizes, the *public* key),
    so `attach` can rebuild the working directory from the store alone.
    """
    module["terraform"]["backend"] = {"s3": state.backend_settings(name)}
    variables = {key: f"${{var.{key}}}" for key in module.get("variable", {})}
    module.setdefault("output", {})[RECORD_OUTPUT] = {
        "value": {"name": name, "environment": environment, "variables": variables}
    }
    return module


def list_store(config: RemoteState | None = None) -> list[dict[str, Any]]:
    """The testbeds in the shared store: name, environment, resources, locked (S3 listing)."""
    config = config or load_config()
    if config is None:
        raise InputError(
            "no remote state is configured on this machine",
            hint="scs-testbed remote-state set --endpoint URL --bucket NAME",
        )
    require_credentials(config)
    client = _s3_client(config)
    rows = []
    try:
        keys = _list_keys(client, config)
        for key in sorted(k for k in keys if k.endswith(f"/{STATE_OBJECT}")):
            name = key[len(config.prefix) + 1 : -len(STATE_OBJECT) - 1]
            body = client.get_object(Bucket=config.bucket, Key=key)["Body"].read()
            text = body.decode("utf-8", "replace")
            resources = parse_state(text, key)
            record = (json.loads(text).get("outputs") or {}).get(RECORD_OUTPUT) if text else None
            environment = ((record or {}).get("value") or {}).get("environment")
            rows.append(
                {
                    "name": name,
                    "environment": environment,
                    "resources": sum(len(r.get("instances", [])) for r in resources),
                    "locked": f"{key}.tflock" in keys,
                    "key": key,
                }
            )
    except Exception as error:
        if isinstance(error, InputError):
            raise
        raise InputError(
            f"cannot read the store ({config.describe()}): {type(error).__name__}: {error}",
            hint="check the endpoint, the bucket and the AWS_* credentials (scs-testbed doctor)",
        ) from None
    return rows


def resources_in_store(backend: Any, name: str) -> int | None:
    """How many resource instances the shared store's state of testbed `name` holds (0 when
    another machine destroyed it, or the object is gone); None for a testbed with local state
    or when the store cannot be read without boto3 (then the caller knows no better)."""
    config = from_record(backend)
    if config is None:
        return None
    require_credentials(config)
    key = str(backend.get("key") or config.key(name))
    try:
        client = _s3_client(config)
    except InputError:  # no boto3: a lifecycle command must not need it
        return None
    try:
        body = client.get_object(Bucket=config.bucket, Key=key)["Body"].read()
    except Exception as error:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404"):
            return 0
        raise InputError(
            f"cannot read {key} in the store ({config.describe()}): {type(error).__name__}",
            hint="check the endpoint, the bucket and the AWS_* credentials (scs-testbed doctor)",
        ) from None
    resources = parse_state(body.decode("utf-8", "replace"), key)
    return sum(len(r.get("instances", [])) for r in resources)


def _s3_client(config: RemoteState) -> Any:
    try:
        import boto3
    except ImportError:
        raise InputError(
            "listing the shared store needs boto3",
            hint="pip install 'scs-testbed[remote-state]' (Terraform itself needs nothing more)",
        ) from None
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=config.endpoint,
        region_name=config.region,
        config=Config(s3={"addressing_style": "path"}, connect_timeout=10, read_timeout=30),
    )


def _list_keys(client: Any, config: RemoteState) -> set[str]:
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=config.bucket, Prefix=f"{config.prefix}/"
    ):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def lock_hint(errors: Any) -> str | None:
    """What to do when Terraform could not take the state lock (another run holds it)."""
    for error in errors:
        if "state lock" not in getattr(error, "summary", ""):
            continue
        detail = getattr(error, "detail", "")
        who = re.search(r"Who:\s*(\S+)", detail)
        when = re.search(r"Created:\s*(\S+ \S+)", detail)
        lock_id = re.search(r"ID:\s*(\S+)", detail)
        holder = f" by {who.group(1)}" if who else ""
        since = f" since {when.group(1)[:19]}" if when else ""
        unlock = "unlock it"
        if lock_id:
            unlock = (
                f"`terraform force-unlock {lock_id.group(1)}` in the testbed's working directory"
            )
        return (
            f"another run holds this testbed's state lock{holder}{since}: wait for it to finish "
            f"and run the command again; only if that run died, {unlock}"
        )
    return None
