"""`scs-testbed collect`: one archive with what it takes to debug a testbed, secrets redacted.

What goes in (index.json in the archive lists every item with its source and status):
  status/     the testbed's record, its outputs, the cloud's view (servers, volumes, IPs)
  terraform/  Terraform's -json logs of every init/plan/apply/destroy (the workspace's logs/)
  console/    every server's console log through the compute API (found by the testbed's names,
              so a half-built testbed's servers are there too)
  hosts/ALIAS the files and command outputs of REMOTE_ITEMS, over the testbed's own ssh (pinned
              host keys; nodes through the manager)
Anything unreachable (no pinned host keys, the VM down, the cloud unreachable) is recorded in
the index as such; collect fails (RemoteError, exit 5) only when nothing at all could be
gathered from the testbed: no Terraform log, no console log, no file from a VM. The archive is
written in every case. Every text passes `redact()` — the clouds.yaml secrets are registered
before anything is read — and the Terraform state (secrets in clear) is never collected.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scs_testbed.errors import RemoteError, TestbedError
from scs_testbed.redact import redact
from scs_testbed.workspace import Workspace

MAX_REMOTE_BYTES = 16 * 1024 * 1024  # the tail of a bigger log is what matters

# (archive name, remote path or command, what it is) by host kind. Paths are the bootstrap's
# (bootstrap/common/lib.sh: progress.jsonl and bootstrap.log; the manager's log holds the
# output of its Ansible runs: our playbook and the configuration's scripts with their
# `osism apply` runs), cloud-init's own, and the bootstrap unit's journal.
REMOTE_FILES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "manager": (
        ("progress.jsonl", "/var/log/scs-testbed/progress.jsonl", "bootstrap progress events"),
        ("bootstrap.log", "/var/log/scs-testbed/bootstrap.log", "bootstrap log (with Ansible)"),
        ("cloud-init.log", "/var/log/cloud-init.log", "cloud-init log"),
        ("cloud-init-output.log", "/var/log/cloud-init-output.log", "cloud-init output"),
        ("cloud-init-result.json", "/run/cloud-init/result.json", "cloud-init result"),
        # the last result, kept after a reboot without cloud-init (smoke/findings.py)
        (
            "cloud-init-data-result.json",
            "/var/lib/cloud/data/result.json",
            "cloud-init's last result",
        ),
    ),
    "node": (
        ("progress.jsonl", "/var/log/scs-testbed/progress.jsonl", "node join progress events"),
        ("bootstrap.log", "/var/log/scs-testbed/bootstrap.log", "node join log"),
        ("cloud-init.log", "/var/log/cloud-init.log", "cloud-init log"),
        ("cloud-init-output.log", "/var/log/cloud-init-output.log", "cloud-init output"),
        ("cloud-init-result.json", "/run/cloud-init/result.json", "cloud-init result"),
    ),
}
REMOTE_COMMANDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "manager": (
        (
            "journal-bootstrap.log",
            "sudo -n journalctl -u scs-testbed-bootstrap.service --no-pager -o short-iso "
            "2>/dev/null || journalctl -u scs-testbed-bootstrap.service --no-pager -o short-iso",
            "the bootstrap unit's journal",
        ),
        (
            "docker-ps.txt",
            "command -v docker >/dev/null || { echo 'No such file' >&2; exit 3; }; "
            "sudo -n docker ps -a 2>/dev/null || docker ps -a",
            "the manager's containers (OSISM), once Docker is installed",
        ),
    ),
    "node": (),
}
GATHERED_KINDS = ("terraform", "console", "hosts")  # what counts as gathered from the testbed


@dataclass
class Item:
    """One entry of the archive's index. status: ok, missing, unreachable, failed."""

    path: str
    source: str
    status: str
    reason: str = ""
    bytes: int = 0


@dataclass
class Collection:
    """What collect wrote: the archive and its index."""

    archive: Path
    items: list[Item] = field(default_factory=list)

    @property
    def gathered(self) -> int:
        return sum(
            i.status == "ok" and i.path.split("/", 1)[0] in GATHERED_KINDS for i in self.items
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "gathered": self.gathered,
            "items": [asdict(i) for i in self.items],
        }


class _Archive:
    """Items in memory until written: every text redacted on the way in."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.items: list[Item] = []

    def add(self, path: str, source: str, text: str) -> None:
        data = redact(text).encode("utf-8")
        self.files[path] = data
        self.items.append(Item(path, source, "ok", bytes=len(data)))

    def record(self, path: str, source: str, status: str, reason: str) -> None:
        self.items.append(Item(path, source, status, redact(reason)))


def collect(
    workspace: Workspace,
    output_dir: Path,
    *,
    ssh_timeout: float = 15.0,
    remote_timeout: float = 120.0,
    now: Callable[[], float] = time.time,
) -> Collection:
    """Gather the testbed's logs into `output_dir/<name>-logs-<UTC time>.tar.gz`.

    Raises RemoteError (after writing the archive) when nothing could be gathered.
    """
    meta = workspace.read_meta("cloud", "prefix")
    _register_cloud_secrets(str(meta["cloud"]))
    archive = _Archive()
    outputs = _status(workspace, meta, archive)
    _terraform_logs(workspace, archive)
    _cloud(workspace, str(meta["cloud"]), str(meta["prefix"]), archive)
    _hosts(workspace, outputs, archive, ssh_timeout, remote_timeout)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now()))
    path = Path(output_dir) / f"{workspace.name}-logs-{stamp}.tar.gz"
    result = Collection(path, archive.items)
    _write(path, workspace.name, stamp, archive)
    if not result.gathered:
        reasons = [f"{i.path}: {i.status} ({i.reason})" for i in archive.items if i.reason]
        raise RemoteError(
            f"nothing could be gathered from testbed {workspace.name} (index in {path})",
            details=reasons[:8],
            hint="is the cloud reachable? `scs-testbed status` shows what exists",
        )
    return result


def _register_cloud_secrets(cloud: str) -> None:
    """Read clouds.yaml first: its secrets are masked in everything collected from now on."""
    from scs_testbed.clouds_yaml import cloud_entry, load_clouds

    # a broken clouds.yaml: the cloud part says so in the index
    with contextlib.suppress(TestbedError):
        cloud_entry(load_clouds(), cloud)


def _status(workspace: Workspace, meta: dict[str, Any], archive: _Archive) -> dict[str, Any]:
    archive.add("status/testbed.json", "the testbed's record", json.dumps(meta, indent=2))
    if not os.path.lexists(workspace.outputs_file):
        archive.record("status/outputs.json", "Terraform outputs", "missing", "not deployed")
        return {}
    try:
        outputs = workspace.read_outputs()
    except TestbedError as error:
        archive.record("status/outputs.json", "Terraform outputs", "failed", error.message)
        return {}
    archive.add("status/outputs.json", "Terraform outputs", json.dumps(outputs, indent=2))
    return outputs


def _terraform_logs(workspace: Workspace, archive: _Archive) -> None:
    logs = sorted(workspace.log_dir.glob("*")) if workspace.log_dir.is_dir() else []
    for path in logs:
        if path.is_file() and not path.is_symlink():
            text = path.read_text(encoding="utf-8", errors="replace")
            archive.add(f"terraform/{path.name}", f"Terraform log {path.name}", text)
    if not logs:
        archive.record("terraform/", "Terraform -json logs", "missing", "no Terraform run logged")


def _cloud(workspace: Workspace, cloud: str, prefix: str, archive: _Archive) -> None:
    """The cloud's view and every server's console log (servers found by exact names)."""
    from scs_testbed.cloud import connect
    from scs_testbed.discover import find_resources
    from scs_testbed.remote.console import console_log
    from scs_testbed.testbed import cloud_status

    try:
        conn = connect(cloud)
        servers = [f for f in find_resources(conn, prefix) if f.kind == "server"]
    except TestbedError as error:
        archive.record("console/", f"compute API of cloud {cloud}", "unreachable", error.message)
        archive.record("status/cloud.json", f"cloud {cloud}", "unreachable", error.message)
        return
    try:
        archive.add("status/cloud.json", f"cloud {cloud}", json.dumps(cloud_status(workspace)))
    except TestbedError as error:
        archive.record("status/cloud.json", f"cloud {cloud}", "failed", error.message)
    if not servers:
        archive.record("console/", f"servers named {prefix}-*", "missing", "no server exists")
    for server in servers:
        source = f"console log of server {server.name} ({server.id})"
        try:
            archive.add(f"console/{server.name}.log", source, console_log(conn, server.id))
        except TestbedError as error:
            reason = error.message + _server_fault(conn, server.id)
            archive.record(f"console/{server.name}.log", source, "failed", reason)


def _server_fault(conn: Any, server_id: str) -> str:
    """Why a server has no console: its status and nova's fault message (ERROR servers)."""
    try:
        server = conn.compute.get_server(server_id)
    except Exception:  # the reason above stands on its own
        return ""
    fault = (getattr(server, "fault", None) or {}).get("message")
    return f"; server {server.status}" + (f": {fault}" if fault else "")


def _hosts(
    workspace: Workspace,
    outputs: dict[str, Any],
    archive: _Archive,
    ssh_timeout: float,
    remote_timeout: float,
) -> None:
    """REMOTE_ITEMS of every host over the testbed's ssh; unreachable hosts recorded as such."""
    from scs_testbed.remote.ssh import connect
    from scs_testbed.remote.testbed import targets

    if not outputs:
        archive.record("hosts/", "the testbed's VMs over ssh", "unreachable", "no outputs")
        return
    if not workspace.known_hosts.is_file():
        reason = "no pinned host keys (the VMs did not boot, or deploy stopped before pinning)"
        archive.record("hosts/", "the testbed's VMs over ssh", "unreachable", reason)
        return
    manager_down = ""
    for alias, target in targets(workspace, outputs).items():
        kind = "manager" if alias == "manager" else "node"
        wanted = [(n, f"file {p}", _read_command(p)) for n, p, _ in REMOTE_FILES[kind]]
        wanted += [(n, f"command `{c}`", c) for n, c, _ in REMOTE_COMMANDS[kind]]
        if manager_down:
            for name, source, _ in wanted:
                archive.record(f"hosts/{alias}/{name}", source, "unreachable", manager_down)
            continue
        try:
            connection = connect(target, retry_for=0, timeout=ssh_timeout)
        except (TestbedError, OSError) as error:
            reason = getattr(error, "message", None) or str(error)
            for name, source, _ in wanted:
                archive.record(f"hosts/{alias}/{name}", source, "unreachable", reason)
            if alias == "manager":
                manager_down = f"the manager (jump host) is unreachable: {reason}"
            continue
        with connection:
            for name, source, command in wanted:
                _remote_item(
                    connection, f"hosts/{alias}/{name}", source, command, remote_timeout, archive
                )


def _read_command(path: str) -> str:
    """Read a file as root when sudo allows (cloud-init's logs are root's), else as the user."""
    quoted = shlex.quote(path)
    return (
        f"if [ ! -e {quoted} ]; then echo 'No such file' >&2; exit 3; fi; "
        f"sudo -n tail -c {MAX_REMOTE_BYTES} -- {quoted} 2>/dev/null "
        f"|| tail -c {MAX_REMOTE_BYTES} -- {quoted}"
    )


def _remote_item(
    connection: Any, path: str, source: str, command: str, timeout: float, archive: _Archive
) -> None:
    try:
        status, out, err = connection.run(command, timeout=timeout)
    except Exception as error:  # paramiko/socket errors mid-way: this item, not the archive
        archive.record(path, source, "unreachable", f"{type(error).__name__}: {error}")
        return
    if status == 3 and "No such file" in err:  # the file, or the command's program
        archive.record(path, source, "missing", "does not exist on the host")
    elif status != 0:
        lines = (err.strip() or out.strip() or f"exit {status}").splitlines()
        archive.record(path, source, "failed", f"exit {status}: {lines[-1][:300]}")
    else:
        archive.add(path, source, out)


def _write(path: Path, name: str, stamp: str, archive: _Archive) -> None:
    """The tar.gz, index.json first; written to a temporary name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    index = {
        "testbed": name,
        "collected": stamp,
        "items": [asdict(i) for i in archive.items],
    }
    members = {"index.json": json.dumps(index, indent=2).encode("utf-8"), **archive.files}
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(f"{name}/{member}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    os.chmod(partial, 0o600)
    partial.replace(path)
