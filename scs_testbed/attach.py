"""`remote-state attach`: a testbed of the shared store made usable on this machine.

The working directory is rebuilt from what the store's state holds (the root module's record
output, see `remote_state.add_backend`); the host keys are pinned as a deploy pins them. This
sits above the lifecycle: it writes a root module (`testbed`), runs Terraform, and sets up
access (`access_setup`, `remote.testbed`), while the state store below knows none of them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError
from scs_testbed.remote_state import (
    RECORD_OUTPUT,
    add_backend,
    load_config,
    require_credentials,
)


def attach(name: str, key: Path | None, terraform: str | None) -> dict[str, Any]:
    """Make a testbed of the shared store usable here (status, ssh, destroy): a working
    directory rebuilt from what the state holds. Returns its record (testbed.json).

    The private key never travels through the store: `key` brings it along (the team's own
    secret channel); without it status and destroy work, ssh does not.
    """
    import shutil

    from scs_testbed.state_dir import write_atomic
    from scs_testbed.terraform import TerraformRunner
    from scs_testbed.terraform_binary import find_terraform
    from scs_testbed.testbed_files import root_module
    from scs_testbed.workspace import Workspace

    config = load_config()
    if config is None:
        raise InputError(
            "no remote state is configured on this machine",
            hint="scs-testbed remote-state set --endpoint URL --bucket NAME (as on the machine "
            "that deployed the testbed)",
        )
    require_credentials(config)
    workspace = Workspace.named(name)
    if workspace.exists:
        raise InputError(
            f"testbed {name!r} already has a working directory here ({workspace.path})",
            hint="use it as it is (scs-testbed status), or choose the store's testbed by another "
            "state directory",
        )
    private = _read_private_key(key) if key is not None else None
    binary = find_terraform(terraform)
    assert binary is not None
    try:
        workspace.create()
        module = add_backend(root_module(workspace.path, ["cloud_provider"]), config, name, "")
        write_atomic(workspace.root_module, json.dumps(module, indent=2) + "\n")
        runner = TerraformRunner(binary, workspace.path, workspace.log_dir)
        runner.init()
        outputs = runner.outputs()
        record = outputs.pop(RECORD_OUTPUT, None)
        if not isinstance(record, dict) or not isinstance(record.get("variables"), dict):
            raise InputError(
                f"the store holds no testbed {name!r} ({config.describe()})",
                hint="`scs-testbed remote-state list` shows the testbeds in the store",
            )
        variables: dict[str, Any] = record["variables"]
        public = str(variables.get("public_key") or "").strip()
        if private is not None:
            _check_key_pair(private, public, key)
        write_atomic(workspace.tfvars_file, json.dumps(variables, indent=2) + "\n")
        module = add_backend(
            root_module(workspace.path, list(variables)),
            config,
            name,
            str(record.get("environment")),
        )
        write_atomic(workspace.root_module, json.dumps(module, indent=2) + "\n")
        write_atomic(workspace.public_key, public + "\n")
        if private is not None:
            workspace.write_private(workspace.private_key, private)
        meta = {
            "name": name,
            "environment": str(record.get("environment") or "?"),
            "environment_file": f"(attached from {config.describe()})",
            "cloud": str(variables.get("cloud_provider")),
            "prefix": str(variables.get("prefix")),
            "terraform": binary,
            "backend": config.as_record(name),
            "state": "deployed" if outputs.get("manager_address") else "new",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        workspace.write_meta(meta)
        if outputs.get("manager_address"):
            from scs_testbed.remote.testbed import write_ssh_config

            workspace.write_private(workspace.outputs_file, json.dumps(outputs, indent=2) + "\n")
            write_ssh_config(workspace, outputs)
    except BaseException:
        shutil.rmtree(workspace.path, ignore_errors=True)
        raise
    if private is not None and outputs.get("manager_address"):
        meta = {**meta, "host_keys": _pin_host_keys(workspace, outputs)}
    return meta


PIN_TIMEOUT = 120.0  # a deployed testbed's keys are already in its consoles


def _pin_host_keys(workspace: Any, outputs: dict[str, Any]) -> str:
    """Pin the VMs' host keys from their console logs, as a deploy does (known_hosts), so that
    ssh works at once; what happened, in words. A failure leaves the attach in place: the
    keys can be pinned later with `scs-testbed ssh --pin`."""
    from scs_testbed.access_setup import vms_boot
    from scs_testbed.errors import TestbedError
    from scs_testbed.remote.testbed import prepare_access

    if not vms_boot(workspace, outputs):
        return "not pinned: this cloud's VMs do not boot"
    try:
        prepare_access(workspace, timeout=PIN_TIMEOUT)
    except TestbedError as error:
        return f"not pinned ({error.message}); later: scs-testbed ssh --name {workspace.name} --pin"
    return "pinned from the console logs"


def _read_private_key(path: Path) -> str:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--key {path}: cannot be read ({error})") from None
    if "PRIVATE KEY" not in text:
        raise InputError(f"--key {path}: not a private key (no PRIVATE KEY block)")
    return text if text.endswith("\n") else text + "\n"


def _check_key_pair(private: str, public: str, path: Path | None) -> None:
    """Refuse a key that does not belong to the testbed's public key (ssh would only fail)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise InputError(
            f"--key {path}: not an unencrypted OpenSSH private key ({error})",
            hint="give the id_ed25519 of the testbed's working directory on the deploying machine",
        ) from None
    derived = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    if derived.split()[:2] != public.split()[:2]:
        raise InputError(
            f"--key {path} is not the testbed's key (its public half differs from the one "
            "in the state)",
            hint="give the id_ed25519 of this testbed's working directory on the deploying machine",
        )
