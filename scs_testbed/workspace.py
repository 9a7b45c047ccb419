"""Each testbed's own working directory in the state dir: its paths, its records (testbed.json,
outputs.json, Terraform's state) read through `state_dir`'s validating reader, and its lock.

Private files, atomic writes and the record reader are `state_dir`'s (below this module).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError
from scs_testbed.state_dir import (
    DamagedRecord,
    check_state_root,
    ensure_private_dir,
    ensure_state_root,
    read_json_record,
    state_root,
    write_atomic,
)

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,39}$")

# testbed.json: key -> type its value must have when present (strings written by write_workspace)
META_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "environment": str,
    "environment_file": str,
    "cloud": str,
    "prefix": str,
    "terraform": str,
    "created": str,
    "updated": str,
    "state": str,
}
# outputs.json: the outputs the access commands rely on, and their JSON types
OUTPUT_TYPES: dict[str, type | tuple[type, ...]] = {
    "manager_address": str,
    "image_user": str,
    "image_node_user": (str, type(None)),
    "node_addresses": list,
    "vip_addresses": list,
    "servers": dict,
    "networks": dict,
}
REQUIRED_OUTPUTS = ("manager_address", "image_user")


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"invalid testbed name {name!r}",
            hint="use lower-case letters, digits and '-', starting with a letter (max 40).",
        )
    return name


@dataclass(frozen=True)
class Workspace:
    """Paths of one testbed's working directory; the files are created by their owners."""

    name: str
    path: Path

    @classmethod
    def named(cls, name: str) -> Workspace:
        return cls(check_name(name), state_root() / "testbeds" / name)

    @property
    def exists(self) -> bool:
        """True once the testbed has a record (even a damaged one: never overwrite that)."""
        return os.path.lexists(self.meta_file)

    @property
    def meta_file(self) -> Path:
        return self.path / "testbed.json"

    @property
    def root_module(self) -> Path:
        return self.path / "main.tf.json"

    @property
    def tfvars_file(self) -> Path:
        return self.path / "terraform.tfvars.json"

    @property
    def state_file(self) -> Path:
        return self.path / "terraform.tfstate"

    @property
    def outputs_file(self) -> Path:
        return self.path / "outputs.json"

    @property
    def private_key(self) -> Path:
        return self.path / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.path / "id_ed25519.pub"

    @property
    def ssh_config(self) -> Path:
        return self.path / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.path / "known_hosts"

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    def create(self) -> None:
        """Create the directory and its parents in the state tree 0700 (tightening old ones)."""
        ensure_state_root()
        ensure_private_dir(self.path.parent)
        ensure_private_dir(self.path)

    def write_private(self, path: Path, text: str) -> None:
        """Write a file readable by the owner only (0600 from the start), atomically."""
        write_atomic(path, text)

    # ----------------------------------------------------------------------- records

    def _recovery(self, record: str) -> str:
        """What to do about a damaged record (the hint of its DamagedRecord)."""
        if record == "meta":
            return (
                "repair it by hand (a JSON object with name, environment, cloud, prefix, state), "
                f"or, once its resources are gone from the cloud, remove {self.path}"
            )
        if record == "outputs":
            return (
                f"deploy again to rewrite it (scs-testbed deploy --name {self.name} -e ENV: "
                "Terraform converges), or remove the file"
            )
        backup = self.path / "terraform.tfstate.backup"
        return (
            f"restore Terraform's previous state: cp {backup} {self.state_file} "
            "(check it first), or repair the file by hand"
        )

    def read_meta(self, *required: str) -> dict[str, Any]:
        """testbed.json, checked; `required` names keys that must be present.

        A testbed without testbed.json has none yet ({}); a damaged one raises DamagedRecord.
        """
        if not os.path.lexists(self.meta_file):
            if required:
                raise DamagedRecord(self.meta_file, "is missing", self._recovery("meta"))
            return {}
        return read_json_record(
            self.meta_file, self._recovery("meta"), types=META_TYPES, required=required
        )

    def write_meta(self, meta: dict[str, Any]) -> None:
        write_atomic(self.meta_file, json.dumps(meta, indent=2, sort_keys=True) + "\n")

    def read_outputs(self) -> dict[str, Any]:
        """Terraform outputs saved after apply, as plain values ({name: value}), checked."""
        if not os.path.lexists(self.outputs_file):
            raise InputError(
                f"testbed {self.name!r} has no outputs yet",
                hint=f"deploy it first: scs-testbed deploy --name {self.name} -e ENV",
            )
        outputs = read_json_record(
            self.outputs_file,
            self._recovery("outputs"),
            types=OUTPUT_TYPES,
            required=REQUIRED_OUTPUTS,
        )
        problem = _outputs_problem(outputs)
        if problem:
            raise DamagedRecord(self.outputs_file, problem, self._recovery("outputs"))
        return outputs

    def read_state_resources(self) -> list[dict[str, Any]]:
        """Managed resources in Terraform's state (none without a state), checked for shape."""
        return read_state_resources(self.state_file, self._recovery("state"))


def _outputs_problem(outputs: dict[str, Any]) -> str | None:
    """What is wrong inside the outputs the access commands walk into, or None."""
    for key in ("node_addresses", "vip_addresses"):
        if not all(isinstance(a, str) for a in outputs.get(key) or []):
            return f"has a {key} entry that is not an address"
    servers = outputs.get("servers") or {}
    nodes = servers.get("nodes") or []
    if not isinstance(servers.get("manager") or "", str) or not (
        isinstance(nodes, list) and all(isinstance(n, str) for n in nodes)
    ):
        return "has server IDs that are not strings"
    management = (outputs.get("networks") or {}).get("management") or {}
    if not isinstance(management, dict) or not isinstance(management.get("cidr") or "", str):
        return "has a networks.management that is not {id, cidr}"
    return None


def read_state_resources(path: Path, hint: str | None = None) -> list[dict[str, Any]]:
    """Managed resources in a Terraform state file; DamagedRecord when it is not a state.

    No file, or the empty file Terraform leaves behind when it never wrote a state, is no state.
    """
    hint = hint or f"restore it from {path.name}.backup next to it, or repair it by hand"
    if not os.path.lexists(path):
        return []
    state = read_json_record(
        path, hint, types={"version": int, "resources": list}, empty_is={"resources": []}
    )
    resources = state.get("resources") or []
    for resource in resources:
        if not isinstance(resource, dict) or not isinstance(resource.get("instances", []), list):
            raise DamagedRecord(path, "has a resource that is not a Terraform resource", hint)
    return [r for r in resources if r.get("mode") == "managed"]


# ----------------------------------------------------------------------- one writer at a time

BUSY_FILE = ".busy"  # who holds the lock: {"command", "pid"}; exists only while it is held
_held: dict[str, int] = {}  # workspace path -> nesting depth (deploy calls destroy inside)
_held_lock = threading.Lock()


class Busy(InputError):
    """Another scs-testbed process is working on this testbed (holds its lock)."""


def refuse_symlinked(workspace: Workspace) -> None:
    """A workspace directory that is a symbolic link is not ours to write into or remove."""
    if workspace.path.is_symlink():
        raise DamagedRecord(
            workspace.path,
            "is a symbolic link, not a directory of scs-testbed",
            f"remove the link ({workspace.path}) and check where it points; "
            "scs-testbed never writes through one",
        )


@contextmanager
def locked(workspace: Workspace, command: str) -> Iterator[None]:
    """Hold the testbed's lock for a command that changes it; Busy (exit 2) when taken.

    The lock is flock(2) on the workspace directory itself: no lock file is left behind, the
    kernel drops it when the holder dies, and it works for a new testbed too (its directory
    is created here and removed again when the command leaves no record). Nested use in
    one process (deploy --destroy-on-failure calling destroy) is a no-op.
    """
    key = os.fspath(workspace.path)
    with _held_lock:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_lock:
                _held[key] -= 1
        return
    refuse_symlinked(workspace)
    created: list[Path] = []
    if not workspace.path.is_dir():
        root = state_root()
        for directory in (root, root / "testbeds", workspace.path):
            if not directory.is_dir():
                created.append(directory)
        workspace.create()
    fd = os.open(workspace.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(workspace)
            raise Busy(
                f"testbed {workspace.name} is busy: {holder} is working on it",
                hint="wait for it to finish (or stop it), then try again",
            ) from None
        busy = workspace.path / BUSY_FILE
        with _held_lock:
            _held[key] = 1
        try:
            with suppress(OSError):
                write_atomic(busy, json.dumps({"command": command, "pid": os.getpid()}) + "\n")
            yield
        finally:
            with _held_lock:
                _held.pop(key, None)
            with suppress(OSError):
                busy.unlink()
            # a new testbed that got no record leaves nothing behind (not even empty parents)
            if created and not workspace.exists:
                for directory in reversed(created):
                    with suppress(OSError):
                        directory.rmdir()
    finally:
        os.close(fd)


def _holder(workspace: Workspace) -> str:
    """`deploy (PID 123)` from the holder's note, or a vaguer phrase when there is none."""
    try:
        note = read_json_record(workspace.path / BUSY_FILE, "", types={"command": str})
        return f"{note.get('command') or 'another command'} (PID {int(note['pid'])})"
    except (InputError, KeyError, TypeError, ValueError):
        return "another scs-testbed command"


def list_workspaces() -> list[Workspace]:
    """Every testbed directory with a record (damaged ones included: the reader tells)."""
    base = check_state_root() / "testbeds"
    if not base.is_dir():
        return []
    return [
        Workspace(p.name, p)
        for p in sorted(base.iterdir())
        if p.is_dir() and os.path.lexists(p / "testbed.json")
    ]


def find_workspace(name: str | None, environment: str | None = None) -> Workspace:
    """The testbed called `name`; else the only one (of `environment`, when given).

    Its record is checked (DamagedRecord when it is damaged). Picking by environment passes
    over damaged records (their environment is unknown).
    """
    workspace = _find_workspace(name, environment)
    refuse_symlinked(workspace)
    workspace.read_meta()
    return workspace


def _find_workspace(name: str | None, environment: str | None) -> Workspace:
    known = list_workspaces()
    choices = ("name one of: " + ", ".join(w.name for w in known)) if known else ""
    if name:
        workspace = Workspace.named(name)
        if not workspace.exists:
            raise InputError(
                f"no testbed named {name!r}",
                hint=choices or "deploy one: scs-testbed deploy -e ENV",
            )
        return workspace
    if environment:
        known = [w for w in known if _environment_of(w) == environment]
    if len(known) == 1:
        return known[0]
    if not known:
        where = f" of environment {environment!r}" if environment else ""
        raise InputError(
            f"there is no testbed{where}", hint="deploy one: scs-testbed deploy -e ENV"
        )
    raise InputError("several testbeds exist; name one", hint=choices)


def _environment_of(workspace: Workspace) -> str | None:
    try:
        return workspace.read_meta().get("environment")
    except DamagedRecord:
        return None
