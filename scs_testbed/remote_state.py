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
    from scs_testbed.workspace import ensure_private_dir, write_atomic

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
