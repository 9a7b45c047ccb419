"""What a testbed's working directory holds for Terraform and for us: the root module that calls
the packaged module, the variables, the testbed's own key pair, its record (testbed.json) and
the state it is in; kept or put back so that a record is only ever rewritten once its step
worked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scs_testbed.errors import InputError
from scs_testbed.resources import module_dir
from scs_testbed.state_dir import write_atomic
from scs_testbed.terraform import TerraformRunner
from scs_testbed.workspace import Workspace

if TYPE_CHECKING:
    from scs_testbed.testbed import Target

PROVIDER = {"source": "terraform-provider-openstack/openstack", "version": "~> 3.0"}


def module_outputs() -> list[str]:
    text = (module_dir() / "outputs.tf").read_text(encoding="utf-8")
    return re.findall(r'^output\s+"(\w+)"', text, flags=re.MULTILINE)


def root_module(workdir: Path, variables: list[str]) -> dict[str, Any]:
    """The testbed's root module (JSON syntax): provider + a call of the packaged module.

    The source is a relative path: Terraform uses a local module in place (so the module's
    `../bootstrap` templates are found), while an absolute path would be copied alone.
    """
    source = os.path.relpath(module_dir(), workdir)
    if not source.startswith("../"):
        source = "./" + source
    module: dict[str, Any] = {"source": source}
    module.update({name: f"${{var.{name}}}" for name in variables})
    return {
        "terraform": {
            "required_version": ">= 1.6.0",
            "required_providers": {"openstack": PROVIDER},
        },
        "provider": {"openstack": {"cloud": "${var.cloud_provider}"}},
        "variable": {name: {} for name in variables},
        "module": {"testbed": module},
        "output": {name: {"value": f"${{module.testbed.{name}}}"} for name in module_outputs()},
    }


def ensure_keypair(workspace: Workspace) -> str:
    """The testbed's own SSH key pair (generated locally, private key 0600); the public key."""
    if not workspace.private_key.is_file():
        if workspace.public_key.is_file():  # attached from the shared store without the key
            raise InputError(
                f"testbed {workspace.name!r} has no private key on this machine",
                hint="a new key would replace the VMs' key: bring the key along with "
                f"`scs-testbed attach {workspace.name} --key PATH` (docs/remote-state.md)",
            )
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        workspace.write_private(workspace.private_key, private)
        write_atomic(workspace.public_key, f"{public} scs-testbed-{workspace.name}\n")
    return workspace.public_key.read_text(encoding="utf-8").strip()


def write_workspace(target: Target, terraform: str) -> TerraformRunner:
    """Create/refresh what Terraform reads: the directory, keys, root module, variables.

    The testbed's record (testbed.json) is written by `record_testbed` once a step worked.
    """
    from scs_testbed import remote_state

    workspace = target.workspace
    backend = remote_state.backend_of(workspace)  # before create(): a new testbed has no record
    if backend is not None:
        remote_state.require_credentials(backend)
    workspace.create()
    values = dict(target.values)
    values["public_key"] = ensure_keypair(workspace)
    write_atomic(workspace.tfvars_file, json.dumps(values, indent=2) + "\n")
    module = root_module(workspace.path, list(values))
    if backend is not None:  # the state lives in the shared store (docs/remote-state.md)
        module = remote_state.add_backend(module, backend, target.name, target.env.name)
    write_atomic(workspace.root_module, json.dumps(module, indent=2) + "\n")
    return TerraformRunner(terraform, workspace.path, workspace.log_dir)


def record_testbed(target: Target, terraform: str) -> None:
    """Write testbed.json for the target (name, environment, cloud, prefix, binary)."""
    workspace = target.workspace
    meta = workspace.read_meta()
    meta.update(
        name=target.name,
        environment=target.env.name,
        environment_file=os.fspath(target.env.path),
        cloud=target.cloud,
        prefix=target.prefix,
        terraform=terraform,
    )
    from scs_testbed import remote_state

    backend = remote_state.backend_of(workspace) if "backend" not in meta else None
    if backend is not None:
        meta["backend"] = backend.as_record(target.name)
    meta.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    meta.setdefault("state", "new")
    workspace.write_meta(meta)


def set_state(workspace: Workspace, state: str) -> None:
    """Record the testbed's state; call only once the action it names has really begun."""
    meta = workspace.read_meta()
    meta.update(state=state, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    workspace.write_meta(meta)


def mark_untracked(workspace: Workspace) -> None:
    """Record that an apply failed after it began: the cloud may hold resources with the
    testbed's names that Terraform does not track (destroy then removes them by name)."""
    meta = workspace.read_meta()
    if not meta.get("untracked"):
        meta["untracked"] = True
        workspace.write_meta(meta)


@dataclass
class SavedRecords:
    """The testbed's files as they were before a step rewrote them (None: no workspace yet)."""

    workspace: Workspace
    files: dict[Path, bytes | None] | None


def save_records(workspace: Workspace) -> SavedRecords:
    """Keep what a step that rewrites the testbed's files may have to put back."""
    if not workspace.exists:
        return SavedRecords(workspace, None)
    files = (workspace.tfvars_file, workspace.root_module, workspace.meta_file)
    return SavedRecords(workspace, {p: p.read_bytes() if p.is_file() else None for p in files})


def restore_records(saved: SavedRecords) -> None:
    """Put the old files back; a fresh working directory (no record before) is removed."""
    if saved.files is None:
        shutil.rmtree(saved.workspace.path, ignore_errors=True)
        return
    for path, content in saved.files.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, content.decode("utf-8"))


def remove_workspace(workspace: Workspace) -> None:
    """Remove the destroyed testbed's directory; an error (exit 2) if anything stays."""
    problems: list[str] = []

    def note(_function: Any, path: str, error: Any) -> None:
        problems.append(f"{path}: {getattr(error, 'strerror', None) or error}")

    if workspace.path.is_symlink():  # never follow it: rmtree would refuse, unlink hides it
        problems.append(f"{workspace.path}: is a symbolic link")
    else:
        shutil.rmtree(workspace.path, onerror=note)
    if problems or os.path.lexists(workspace.path):
        raise InputError(
            f"testbed {workspace.name}: its resources are gone from the cloud, but its directory "
            f"{workspace.path} could not be removed",
            details=problems[:5],
            hint="remove it by hand (check its permissions first)",
        )
