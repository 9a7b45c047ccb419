"""sshuttle through the manager to the testbed networks; ready on READY=1, stopped by PID."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from scs_testbed import runner
from scs_testbed.errors import InputError, RemoteError
from scs_testbed.state_dir import DamagedRecord, read_json_record

METHODS = ("auto", "nat", "nft", "tproxy", "pf", "ipfw")
MODES = ("manager", "ceph", "openstack", "full")


@dataclass(frozen=True)
class TunnelSpec:
    """What sshuttle needs: the manager's ssh_config alias, the config, the subnets."""

    ssh_config: Path
    host_alias: str
    subnets: Sequence[str]
    method: str = "auto"
    wrapper: Sequence[str] = field(default_factory=tuple)  # e.g. ip netns exec NS (tests)

    def argv(self) -> list[str]:
        """The sshuttle command line (ControlMaster off: sshuttle owns its ssh process)."""
        if self.method not in METHODS:
            raise InputError(
                f"unknown sshuttle method {self.method!r}",
                hint=f"choose one of {', '.join(METHODS)}",
            )
        ssh_cmd = shlex.join(
            ["ssh", "-F", str(self.ssh_config), "-o", "ControlMaster=no", "-o", "ControlPath=none"]
        )
        return [
            *self.wrapper,
            *sshuttle_command(),
            "--method",
            self.method,
            "-r",
            self.host_alias,
            *self.subnets,
            "--ssh-cmd",
            ssh_cmd,
        ]


def sshuttle_command() -> list[str]:
    """sshuttle from this Python environment (the `tunnel` extra), else from PATH."""
    if importlib.util.find_spec("sshuttle") is not None:
        return [sys.executable, "-m", "sshuttle"]
    found = shutil.which("sshuttle")
    if not found:
        raise RemoteError(
            "sshuttle is not installed",
            hint="pip install 'scs-testbed[tunnel]' or apt-get install sshuttle",
        )
    return [found]


def start_tunnel(
    spec: TunnelSpec, pid_file: Path, log_file: Path, timeout: float = 60.0, detach: bool = True
) -> int:
    """Start sshuttle; return its PID once READY. The PID file also records its helpers.

    `detach=False` keeps sshuttle on our terminal, so that its sudo can ask for a password.
    """
    running = running_pid(pid_file)
    if running:
        raise RemoteError(
            f"a tunnel is already running (PID {running})",
            hint="stop it first: scs-testbed tunnel --stop",
        )
    try:
        pid = runner.start_notified(
            spec.argv(), log_path=log_file, ready_timeout=timeout, new_session=detach
        )
    except runner.NotReadyError as error:
        tail = _tail(log_file)
        raise RemoteError(
            f"sshuttle did not come up: {error}", details=tail, hint=f"full output in {log_file}"
        ) from error
    # The firewall helper calls setsid and outlives sshuttle by the time it takes to undo its
    # rules: remember it (with its start time, against PID reuse) to wait for it on stop.
    tree = [{"pid": p, "started": runner.identity(p)} for p in [pid, *runner.descendants(pid)]]
    pid_file.write_text(json.dumps({"pid": pid, "processes": tree}) + "\n", encoding="utf-8")
    return pid


def _recorded(pid_file: Path) -> tuple[int | None, list[int]]:
    """Main PID and the recorded processes that are verifiably still the same processes.

    The file is read through the validating reader (a FIFO, a huge or garbage file is
    DamagedRecord, exit 2, never a hang). A PID counts only when its start time matches the
    one recorded and it is safe to signal (not PID 1, not us, not our process group).
    """
    if not os.path.lexists(pid_file):
        return None, []
    hint = (
        f"if no sshuttle runs for this testbed, remove {pid_file}; "
        "otherwise stop that sshuttle by hand"
    )
    types: dict[str, type | tuple[type, ...]] = {"pid": int, "processes": list}
    data = read_json_record(pid_file, hint, types=types, required=("pid",))
    tree: list[tuple[int, str]] = []
    for entry in data.get("processes") or []:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("pid"), int)
            and isinstance(entry.get("started"), str)
        ):
            raise DamagedRecord(pid_file, "has a process that is not {pid, started}", hint)
        tree.append((entry["pid"], entry["started"]))
    living = [p for p, started in tree if runner.identity(p) == started and runner.may_signal(p)]
    return int(data["pid"]), living


def running_pid(pid_file: Path) -> int | None:
    """The tunnel's PID if sshuttle still runs (a stale file is removed)."""
    pid, living = _recorded(pid_file)
    if pid is not None and pid in living and runner.alive(pid):
        return pid
    if not living:
        pid_file.unlink(missing_ok=True)
    return None


def stop_tunnel(pid_file: Path, timeout: float = 15.0) -> int | None:
    """Stop the tunnel and wait for its firewall helper; return sshuttle's PID or None.

    Only a main PID whose identity was verified is signalled (with its descendants and the
    verified helpers): a recycled PID in a stale file is left alone.
    """
    pid, living = _recorded(pid_file)
    if pid is None or pid not in living:
        pid_file.unlink(missing_ok=True)
        return None
    runner.stop_tree(pid, timeout=timeout, also=[p for p in living if p != pid])
    pid_file.unlink(missing_ok=True)
    return pid


def _tail(path: Path, lines: int = 8) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


@dataclass(frozen=True)
class WebInterface:
    """One row of the web interface table."""

    name: str
    url: str
    purpose: str


def load_web_interfaces() -> list[dict[str, Any]]:
    """The data table of web interfaces shipped with the package."""
    text = (files("scs_testbed.remote") / "web_interfaces.yaml").read_text(encoding="utf-8")
    return list(yaml.safe_load(text))


def address_plan(management_cidr: str) -> dict[str, str]:
    """Named addresses of the testbed's address plan in `management_cidr`."""
    net = ipaddress.ip_network(management_cidr, strict=False)
    return {
        "manager": str(net[5]),
        "api_int": str(net[9]),
        "api": str(net[254]),  # .254 as in locals.tf (192.168.16.254), not the last address
        "node0": str(net[10]),
    }


def web_interfaces(
    management_cidr: str, deploy_mode: str = "full", overrides: Mapping[str, str] | None = None
) -> list[WebInterface]:
    """The web interfaces that exist in `deploy_mode`, with URLs from the address plan."""
    plan = {**address_plan(management_cidr), **(overrides or {})}
    level = MODES.index(deploy_mode) if deploy_mode in MODES else len(MODES) - 1
    return [
        WebInterface(row["name"], row["url"].format(**plan), row["purpose"])
        for row in load_web_interfaces()
        if MODES.index(row.get("needs", "manager")) <= level
    ]


CA_NOTE = (
    "The https interfaces use certificates of the testbed's own CA: trust "
    "environments/kolla/certificates/ca/testbed.crt of the configuration repository "
    "(on the manager: /usr/local/share/ca-certificates/testbed.crt) in your browser."
)


def hosts_entries(
    management_cidr: str, deploy_mode: str = "full", overrides: Mapping[str, str] | None = None
) -> list[str]:
    """/etc/hosts lines for the interfaces' names: they resolve publicly to private addresses,
    which resolvers with DNS rebind protection drop."""
    plan = {**address_plan(management_cidr), **(overrides or {})}
    level = MODES.index(deploy_mode) if deploy_mode in MODES else len(MODES) - 1
    names: dict[str, list[str]] = {}
    for row in load_web_interfaces():
        host = urlsplit(row["url"].format(**plan)).hostname or ""
        if MODES.index(row.get("needs", "manager")) > level or not host.endswith(".osism.xyz"):
            continue
        listed = names.setdefault(plan[row["at"]], [])
        if host not in listed:
            listed.append(host)
    return [f"{address} {' '.join(hosts)}" for address, hosts in names.items()]
