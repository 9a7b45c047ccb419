"""Servers as systemd-nspawn containers: the host side of the local cloud's booting servers.

Plain Python (standard library only, no nova import) so that it runs inside the cloud's venv
under nova-compute and can be tested alone. For one server it keeps, below `state_dir`:

    servers/<uuid>/server.json   what the server is (ports, machine name, udev stubs)
    servers/<uuid>/upper, work   the overlay's writable layers over the shared root
    servers/<uuid>/root          the overlay's mount point, booted by systemd-nspawn
    servers/<uuid>/console.log   the container's console (cloud-init prints host keys there)
    servers/<uuid>/nspawn.pid    "PID start-ticks" of the systemd-nspawn process we started
    networks/<ns>.json           one network namespace per Neutron network and its floating IPs

Network: each Neutron network is a namespace holding bridge `br0` with the gateway address
(the router) and an uplink veth to the host over a /30 transfer net; every port is a veth
whose bridge end sits in that namespace and whose other end (with the port's MAC) is handed
to the container by `--network-interface`. A floating IP is DNAT-ed to its fixed IP in the
namespace and routed there from the host, so the host reaches servers only through them.

Every name is derived from the server's, port's or network's UUID (two testbeds never clash)
and every step is idempotent, so after a crash the same calls clean up or re-create.
Subprocesses are started here, not through scs_testbed.runner: this module runs in the
cloud's venv, where the tool's package is not installed. One module on purpose, though longer
than 400 lines: nova-compute and neutron load it as one file of the plugins distribution
(outside the layers of docs/architecture.md), and servers and networks share its locking.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NSPAWN = "systemd-nspawn"
SEED = "var/lib/cloud/seed/config_drive"  # cloud-init reads a config drive here too
CONSOLE_BYTES = 100 * 1024  # what nova's console API returns at most
TRANSFER_NET = ipaddress.ip_network("100.96.0.0/12")  # host <-> namespace /30 links
# The package mirrors on the host (scs_testbed.localcloud.mirrors: the same values; this module
# runs in the services' venv and cannot import it): the one outside address servers may reach.
MIRROR_ADDRESS = "172.24.4.1"
MIRROR_PORTS = (3141, 3142)
UDEV_DATA = Path("/run/udev/data")
UDEV_CONTROL = Path("/run/udev/control")  # exists while a udevd runs
NSPAWN_RUN = Path("/run/systemd/nspawn")
SYSTEMD_RUNNING = Path("/run/systemd/system")  # exists when systemd is PID 1
REBOOT_EXIT = 133  # systemd-nspawn's exit code when the container asked for a reboot

# Within one process (nova-compute runs green or real threads) the flock of _locked would not
# exclude a second thread holding another descriptor of the same file; this lock does. Made at
# import time, after nova's eventlet monkey patching, so it is green there.
_PROCESS_LOCK = threading.RLock()
# systemd-nspawn processes this process started: they are reaped only through their Popen,
# and exit codes are kept (a guest's reboot is exit 133).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_EXITS: dict[int, int] = {}


class HostError(RuntimeError):
    """A host command failed; the message names the command and its output."""


@dataclass(frozen=True)
class Network:
    """A Neutron network as the host sees it: its subnet and the router's address on it."""

    id: str
    cidr: str
    gateway: str

    @property
    def namespace(self) -> str:
        return f"scsn-{_short(self.id)}"

    @property
    def uplink(self) -> str:
        """The host end of the namespace's transfer veth."""
        return f"scsh{_short(self.id)}"


@dataclass(frozen=True)
class Port:
    """A Neutron port of a server: its MAC and fixed IP on one network."""

    id: str
    mac: str
    address: str
    network: Network

    @property
    def guest_link(self) -> str:
        """The veth end handed to the container (keeps this name inside)."""
        return f"scsv{_short(self.id)}"

    @property
    def bridge_link(self) -> str:
        """The veth end on the bridge in the network's namespace."""
        return f"scsp{_short(self.id)}"


@dataclass(frozen=True)
class Server:
    """One server: its UUID, ports and config-drive content.

    `config_drive` maps paths inside the drive (`openstack/latest/meta_data.json`, as nova's
    InstanceMetadata.metadata_for_config_drive yields them) to their content.
    """

    uuid: str
    ports: tuple[Port, ...]
    config_drive: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def machine(self) -> str:
        """systemd-nspawn's machine name (its /run/systemd/nspawn entries carry it)."""
        return f"scs-{self.uuid.replace('-', '')[:20]}"


def _short(ident: str) -> str:
    return hashlib.sha256(ident.encode()).hexdigest()[:10]


def _run(*argv: str, check: bool = True, input_text: str | None = None) -> str:
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        check=False,
        input=input_text,
        stdin=None if input_text is not None else subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise HostError(f"{shlex.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _link_exists(name: str, namespace: str | None = None) -> bool:
    where = ["-n", namespace] if namespace else []
    return bool(_run("ip", *where, "-o", "link", "show", "dev", name, check=False).strip())


def _namespaces() -> set[str]:
    return {line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line}


# -- processes ---------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


@dataclass(frozen=True)
class _Process:
    """A process we started, identified by PID and start time (a reused PID never matches)."""

    pid: int
    ticks: int

    @classmethod
    def load(cls, path: Path) -> _Process | None:
        try:
            pid, ticks = path.read_text(encoding="utf-8").split()
            return cls(int(pid), int(ticks))
        except (OSError, ValueError):
            return None

    @classmethod
    def of(cls, pid: int) -> _Process:
        stat = _stat(pid)
        return cls(pid, int(stat[19]) if stat else 0)

    def alive(self) -> bool:
        _reap(self.pid)
        stat = _stat(self.pid)
        return stat is not None and stat[0] != "Z" and int(stat[19]) == self.ticks

    def family(self) -> list[_Process]:
        """This process and all its living descendants (the container's processes)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat and stat[0] != "Z":
                    children.setdefault(int(stat[1]), []).append(int(entry.name))
        found, queue = [self], [self.pid]
        while queue:
            for child in children.get(queue.pop(), []):
                found.append(_Process.of(child))
                queue.append(child)
        return [p for p in found if p.alive()]

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def _reap(pid: int) -> None:
    """Collect `pid` if it is our exited child, keeping its exit code in _EXITS."""
    popen = _CHILDREN.get(pid)
    if popen is not None:
        if popen.poll() is not None:
            _EXITS[pid] = popen.returncode
            del _CHILDREN[pid]
        return
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return
    if waited:
        _EXITS[pid] = os.waitstatus_to_exitcode(status)


def _rooted_in(root: Path) -> list[_Process]:
    """Living processes of another mount namespace that has the overlay at `root` mounted:
    a container's, even after its nspawn died (mountinfo names the overlay's upperdir)."""
    upper = f"upperdir={root.parent / 'upper'},"
    ours = os.readlink("/proc/self/ns/mnt")
    matching: dict[str, bool] = {}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            namespace = os.readlink(entry / "ns" / "mnt")
            if namespace == ours:
                continue
            if namespace not in matching:
                matching[namespace] = upper in (entry / "mountinfo").read_text()
        except OSError:
            continue
        if matching[namespace]:
            process = _Process.of(int(entry.name))
            if process.alive():
                found.append(process)
    return found


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


# -- the host ------------------------------------------------------------------------------


class Host:
    """Boots, stops and removes servers as nspawn containers; owns everything below `state_dir`.

    `rootfs` is the shared, read-only root filesystem (the cached image) every server's
    overlay sits on.
    """

    def __init__(self, state_dir: Path, rootfs: Path) -> None:
        self.state_dir = Path(state_dir)
        self.rootfs = Path(rootfs)

    # paths
    def server_dir(self, uuid: str) -> Path:
        return self.state_dir / "servers" / uuid

    def console_file(self, uuid: str) -> Path:
        return self.server_dir(uuid) / "console.log"

    def _network_file(self, network: Network) -> Path:
        return self.state_dir / "networks" / f"{network.namespace}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One change at a time across threads and processes (nova spawns concurrently)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with _PROCESS_LOCK, open(self.state_dir / "host.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # public interface ------------------------------------------------------------------

    def create(self, server: Server) -> None:
        """Prepare the server's disk (overlay layers) and write its config drive; no boot."""
        d = self.server_dir(server.uuid)
        for sub in ("upper", "work", "root"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self._write_record(server)
        seed = d / "upper" / SEED
        seed.mkdir(parents=True, exist_ok=True)
        for name, content in server.config_drive.items():
            target = (seed / name).resolve()
            if seed.resolve() not in target.parents:
                raise ValueError(f"config drive path outside the seed directory: {name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    def start(self, uuid: str) -> int:
        """Boot the server (networks, overlay, veths, nspawn); return nspawn's PID."""
        server = self._read_record(uuid)
        running = self._process(uuid)
        if running is not None and running.alive():
            return running.pid
        d = self.server_dir(uuid)
        with self._locked():
            for network in {port.network for port in server.ports}:
                self._ensure_network(network)
            self._mount(uuid)
            stubs = [self._plug(port) for port in server.ports]
            self._write_record(server, udev_stubs=[s for s in stubs if s])
        argv = [
            NSPAWN,
            "--boot",
            f"--directory={d / 'root'}",
            f"--machine={server.machine}",
            "--register=no",
            # Without systemd as PID 1 there is no one to ask for a scope: stay in ours. With
            # it, nspawn gets a scope of its own instead of joining nova-compute's cgroup.
            *(() if SYSTEMD_RUNNING.is_dir() else ("--keep-unit",)),
            "--console=read-only",
            "--resolv-conf=off",
            "--timezone=off",
            "--link-journal=no",
            *(f"--network-interface={port.guest_link}" for port in server.ports),
        ]
        if not server.ports:
            argv.append("--private-network")
        with open(self.console_file(uuid), "ab") as console:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signals to our own process group never reach it
            )
        _CHILDREN[proc.pid] = proc
        record = _Process.of(proc.pid)
        (d / "nspawn.pid").write_text(f"{record.pid} {record.ticks}\n")
        return proc.pid

    def is_running(self, uuid: str) -> bool:
        process = self._process(uuid)
        return process is not None and process.alive()

    def stop(self, uuid: str, timeout: float = 30.0) -> None:
        """Power off: ask the container to shut down, kill it after `timeout`; unplug, unmount.

        SIGTERM makes systemd-nspawn power the container off cleanly; what outlives the
        timeout is killed by PID, the container's processes included.
        """
        process = self._process(uuid)
        if process is not None:
            family = process.family()
            process.signal(signal.SIGTERM)
            if not _wait(lambda: not process.alive(), timeout):
                for member in process.family() or family:
                    member.signal(signal.SIGKILL)
            _wait(lambda: not any(m.alive() for m in family), 10)
            (self.server_dir(uuid) / "nspawn.pid").unlink(missing_ok=True)
        # A container whose nspawn died (killed, crashed) lives on by itself for a moment:
        # find its processes by their root directory and end them before unmounting.
        root = self.server_dir(uuid) / "root"
        for orphan in _rooted_in(root):
            orphan.signal(signal.SIGKILL)
        _wait(lambda: not _rooted_in(root), 10)
        with self._locked():
            self._unplug(uuid)
            self._unmount(uuid)

    def restart_rebooted(self) -> list[str]:
        """Boot again every server whose guest rebooted itself (nspawn exited 133).

        Only servers this process started are seen (their exit code is ours to read); call it
        periodically. Returns the UUIDs booted again.
        """
        restarted = []
        for uuid in self.server_uuids():
            process = self._process(uuid)
            if process is None or process.alive() or _EXITS.get(process.pid) != REBOOT_EXIT:
                continue
            del _EXITS[process.pid]
            (self.server_dir(uuid) / "nspawn.pid").unlink(missing_ok=True)
            with self._locked():
                self._unplug(uuid)  # the container's veth ends went with its namespace
            self.start(uuid)
            restarted.append(uuid)
        return restarted

    def reboot(self, uuid: str, timeout: float = 30.0) -> int:
        """Stop and boot again; the overlay (the server's disk) is kept."""
        self.stop(uuid, timeout)
        return self.start(uuid)

    def delete(self, uuid: str, timeout: float = 10.0) -> None:
        """Remove the server and everything of it.

        A network goes with its last user, unless floating IPs still point into it (neutron
        keeps them associated with the port; remove_floating_ip removes the network then).
        """
        if not self.server_dir(uuid).exists():
            return
        networks = {port.network for port in self._read_record(uuid).ports}
        self.stop(uuid, timeout)
        with self._locked():
            shutil.rmtree(self.server_dir(uuid), ignore_errors=True)
            for network in networks:
                self._remove_if_unused(network)

    def stop_all(self, timeout: float = 30.0) -> None:
        """Power off every server and remove every network namespace.

        Disks and records stay (floating IPs included), so `start` brings a server back as it
        was; `delete` removes what is left.
        """
        for uuid in self.server_uuids():
            self.stop(uuid, timeout)
        with self._locked():
            for path in sorted((self.state_dir / "networks").glob("*.json")):
                self._remove_network(_load_network(path), keep_record=True)

    def server_uuids(self) -> list[str]:
        base = self.state_dir / "servers"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "server.json").is_file())

    def console_output(self, uuid: str, limit: int = CONSOLE_BYTES) -> bytes:
        """The tail of the server's console log (empty before the first boot)."""
        path = self.console_file(uuid)
        try:
            with open(path, "rb") as console:
                console.seek(max(0, path.stat().st_size - limit))
                return console.read()
        except FileNotFoundError:
            return b""

    def add_floating_ip(self, network: Network, floating: str, fixed: str) -> None:
        """Make `floating` reach `fixed` from the host (DNAT in the network's namespace)."""
        with self._locked():
            self._ensure_network(network)
            record = self._network_record(network)
            record["floating"][floating] = fixed
            self._save_network(network, record)
            self._apply_nat(network, record)
            _route(floating, record["inner"], network.uplink)

    def remove_floating_ip(self, network: Network, floating: str) -> None:
        with self._locked():
            if not self._network_file(network).exists():
                return
            record = self._network_record(network)
            record["floating"].pop(floating, None)
            self._save_network(network, record)
            if network.namespace in _namespaces():
                self._apply_nat(network, record)
            _run("ip", "route", "del", f"{floating}/32", check=False)
            self._remove_if_unused(network)

    def network_records(self) -> list[tuple[Network, dict[str, Any]]]:
        """Every network this host has set up, with its record (transfer net, floating IPs)."""
        found = []
        for path in sorted((self.state_dir / "networks").glob("*.json")):
            record = json.loads(path.read_text())
            found.append((Network(**record["network"]), record))
        return found

    def pids(self, uuid: str) -> list[int]:
        """nspawn and every process of the container (for memory figures)."""
        process = self._process(uuid)
        return [p.pid for p in process.family()] if process else []

    # records ---------------------------------------------------------------------------

    def _write_record(self, server: Server, udev_stubs: list[str] | None = None) -> None:
        path = self.server_dir(server.uuid) / "server.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        record = {
            "uuid": server.uuid,
            "ports": [
                {"id": p.id, "mac": p.mac, "address": p.address, "network": asdict(p.network)}
                for p in server.ports
            ],
            "udev_stubs": udev_stubs if udev_stubs is not None else old.get("udev_stubs", []),
        }
        path.write_text(json.dumps(record, indent=1) + "\n")

    def _read_record(self, uuid: str) -> Server:
        try:
            record = json.loads((self.server_dir(uuid) / "server.json").read_text())
        except FileNotFoundError:
            raise HostError(f"no server {uuid} on this host") from None
        ports = tuple(
            Port(p["id"], p["mac"], p["address"], Network(**p["network"])) for p in record["ports"]
        )
        return Server(uuid, ports)

    def _process(self, uuid: str) -> _Process | None:
        return _Process.load(self.server_dir(uuid) / "nspawn.pid")

    def _users(self, network: Network) -> list[str]:
        return [
            uuid
            for uuid in self.server_uuids()
            if any(p.network.id == network.id for p in self._read_record(uuid).ports)
        ]

    # overlay ---------------------------------------------------------------------------

    def _mount(self, uuid: str) -> None:
        d = self.server_dir(uuid)
        if os.path.ismount(d / "root"):
            return
        options = f"lowerdir={self.rootfs},upperdir={d / 'upper'},workdir={d / 'work'}"
        _run("mount", "-t", "overlay", "overlay", "-o", options, str(d / "root"))

    def _unmount(self, uuid: str) -> None:
        root = self.server_dir(uuid) / "root"
        if os.path.ismount(root):
            _run("umount", str(root))
        machine = self._machine_of(uuid)
        for sub in ("propagate", "unix-export"):  # nspawn leaves these behind per machine
            shutil.rmtree(NSPAWN_RUN / sub / machine, ignore_errors=True)

    def _machine_of(self, uuid: str) -> str:
        return Server(uuid, ()).machine

    # ports -----------------------------------------------------------------------------

    def _plug(self, port: Port) -> str | None:
        """A fresh veth for the port; returns the udev stub written for it, if any."""
        ns = port.network.namespace
        for name, where in ((port.guest_link, None), (port.bridge_link, ns)):
            if _link_exists(name, where):
                _run("ip", *(["-n", where] if where else []), "link", "del", name)
        _run(
            "ip", "link", "add", port.guest_link, "address", port.mac, "type", "veth",
            "peer", "name", port.bridge_link, "netns", ns,
        )  # fmt: skip
        _run("ip", "-n", ns, "link", "set", port.bridge_link, "master", "br0", "up")
        if UDEV_CONTROL.exists():
            return None  # a real udevd records the link itself
        # Without udev, nspawn --network-interface waits for a udev database entry.
        ifindex = Path(f"/sys/class/net/{port.guest_link}/ifindex").read_text().strip()
        stub = UDEV_DATA / f"n{ifindex}"
        UDEV_DATA.mkdir(parents=True, exist_ok=True)
        if stub.exists():
            return None
        stub.touch()
        return str(stub)

    def _unplug(self, uuid: str) -> None:
        path = self.server_dir(uuid) / "server.json"
        if not path.exists():
            return
        record = json.loads(path.read_text())
        for stub in record.get("udev_stubs", []):
            Path(stub).unlink(missing_ok=True)
        if not UDEV_CONTROL.exists():
            for directory in (UDEV_DATA, UDEV_DATA.parent):
                with contextlib.suppress(OSError):
                    directory.rmdir()  # only when empty
        for port in self._read_record(uuid).ports:
            if _link_exists(port.guest_link):
                _run("ip", "link", "del", port.guest_link, check=False)
            if port.network.namespace in _namespaces():
                ns = port.network.namespace
                _run("ip", "-n", ns, "link", "del", port.bridge_link, check=False)
        record["udev_stubs"] = []
        path.write_text(json.dumps(record, indent=1) + "\n")

    # networks --------------------------------------------------------------------------

    def _remove_if_unused(self, network: Network) -> None:
        """Remove the network when no server uses it and no floating IP points into it."""
        path = self._network_file(network)
        floating = json.loads(path.read_text()).get("floating") if path.exists() else None
        if not floating and not self._users(network):
            self._remove_network(network)

    def _network_record(self, network: Network) -> dict[str, Any]:
        return json.loads(self._network_file(network).read_text())

    def _save_network(self, network: Network, record: dict[str, Any]) -> None:
        path = self._network_file(network)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")

    def _ensure_network(self, network: Network) -> None:
        """The namespace with bridge, gateway address, uplink and NAT (re-made if partial)."""
        ns = network.namespace
        path = self._network_file(network)
        record = json.loads(path.read_text()) if path.exists() else None
        if record and ns in _namespaces() and _link_exists(network.uplink):
            return
        if record is None:
            outer, inner = _free_transfer_pair(network.id)
            record = {"network": asdict(network), "outer": outer, "inner": inner, "floating": {}}
        self._remove_network(network, keep_record=True)
        self._save_network(network, record)
        prefix = ipaddress.ip_network(network.cidr).prefixlen
        _run("ip", "netns", "add", ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", ns, "addr", "add", f"{network.gateway}/{prefix}", "dev", "br0")
        _run("ip", "-n", ns, "link", "set", "br0", "up")
        _run(
            "ip",
            "link",
            "add",
            network.uplink,
            "type",
            "veth",
            "peer",
            "name",
            "uplink",
            "netns",
            ns,
        )
        _run("ip", "addr", "add", f"{record['outer']}/30", "dev", network.uplink)
        _run("ip", "link", "set", network.uplink, "up")
        _run("ip", "-n", ns, "addr", "add", f"{record['inner']}/30", "dev", "uplink")
        _run("ip", "-n", ns, "link", "set", "uplink", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", record["outer"])
        _run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._apply_nat(network, record)
        for floating in record["floating"]:
            _route(floating, record["inner"], network.uplink)

    def _apply_nat(self, network: Network, record: dict[str, Any]) -> None:
        """The namespace's whole nft ruleset (replaced at once): DNAT/SNAT per floating IP,
        and nothing forwarded out of the namespace except to the host itself, so no server's
        traffic leaves this machine even where the host forwards packets."""
        leaving = f'oifname "uplink" ip daddr != {record["outer"]}'
        ports = ", ".join(str(port) for port in MIRROR_PORTS)
        lines = [
            "table ip scs",
            "delete table ip scs",
            "table ip scs {",
            "  chain egress_guard { type filter hook forward priority filter;",
            # rejected, not dropped: a server's resolver, apt, pip and git then fail at once
            # instead of waiting for timeouts (DNS alone held cloud-init for ~40 s)
            f'    oifname "uplink" ip daddr {MIRROR_ADDRESS} tcp dport {{ {ports} }} accept',
            f"    {leaving} meta l4proto tcp reject with tcp reset",
            f"    {leaving} reject with icmp type admin-prohibited",
            "  }",
            "  chain pre { type nat hook prerouting priority dstnat;",
            *(f"    ip daddr {fip} dnat to {fixed}" for fip, fixed in record["floating"].items()),
            "  }",
            "  chain post { type nat hook postrouting priority srcnat;",
            # every server reaches the mirrors from the uplink's address (the host routes
            # back to it; servers without a floating IP have no address the host knows)
            f'    oifname "uplink" ip daddr {MIRROR_ADDRESS} masquerade',
            *(
                f'    oifname "uplink" ip saddr {fixed} snat to {fip}'
                for fip, fixed in record["floating"].items()
            ),
            "  }",
            "}",
        ]
        ruleset = "\n".join(lines) + "\n"
        _run("ip", "netns", "exec", network.namespace, "nft", "-f", "-", input_text=ruleset)

    def _remove_network(self, network: Network, keep_record: bool = False) -> None:
        path = self._network_file(network)
        if path.exists():
            for floating in json.loads(path.read_text()).get("floating", {}):
                _run("ip", "route", "del", f"{floating}/32", check=False)
        if _link_exists(network.uplink):
            _run("ip", "link", "del", network.uplink, check=False)
        if network.namespace in _namespaces():
            _run("ip", "netns", "del", network.namespace, check=False)
        if not keep_record:
            path.unlink(missing_ok=True)


def _route(floating: str, via: str, dev: str) -> None:
    _run("ip", "route", "replace", f"{floating}/32", "via", via, "dev", dev)


def _load_network(path: Path) -> Network:
    return Network(**json.loads(path.read_text())["network"])


def _free_transfer_pair(network_id: str) -> tuple[str, str]:
    """A /30 of TRANSFER_NET no address on this host uses, starting at one derived from the id."""
    used = {
        ipaddress.ip_interface(word).network
        for line in _run("ip", "-4", "-o", "addr").splitlines()
        for word in line.split()
        if "/" in word and word[0].isdigit()
    }
    subnets = 2 ** (30 - TRANSFER_NET.prefixlen)
    first = int(_short(network_id), 16) % subnets
    for offset in range(subnets):
        base = int(TRANSFER_NET.network_address) + ((first + offset) % subnets) * 4
        net = ipaddress.ip_network(f"{ipaddress.ip_address(base)}/30")
        if not any(net.overlaps(other) for other in used):
            return str(ipaddress.ip_address(base + 1)), str(ipaddress.ip_address(base + 2))
    raise HostError(f"no free /30 left in {TRANSFER_NET}")
