"""Servers booted as nspawn containers by the local cloud's host layer, for tests and benchmarks.

Each "cloud" here is one management network (its own namespace) with random IDs and a random
floating IP from 198.18.0.0/15 (a benchmarking range nothing else routes), so parallel runs
never clash. The config drive is written as nova would: meta_data.json with the key pair,
network_data.json with the port's MAC and fixed IP (and no DNS server: nothing to resolve).
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn

CIDR, GATEWAY, NETMASK = "192.168.16.0/20", "192.168.16.1", "255.255.240.0"
MARKER = "/var/lib/scs-test/user-data-ran"  # written by the user_data below
DEFAULT_USER = "debian"  # Debian's cloud-init default user: gets meta_data's public key

USER_DATA = f"""#cloud-config
hostname: {{hostname}}
ssh_key_console_blacklist: []
ssh_fp_console_blacklist: []
package_update: false
write_files:
  - path: {MARKER}
    content: "{{hostname}}\\n"
runcmd:
  - [sh, -c, "echo runcmd-done >> {MARKER}"]
"""


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Poll `predicate` until true; return the seconds it took (TimeoutError after `timeout`)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def _mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


@dataclass
class Booted:
    """One server of a Cloud: what the test needs to reach and check it."""

    uuid: str
    hostname: str
    address: str
    link: str  # the port's veth, handed to the container
    floating: str | None = None

    def udev_stubs(self, host: nspawn.Host) -> list[str]:
        """The udev database stubs the host layer wrote for this server (none with udevd)."""
        record = host.server_dir(self.uuid) / "server.json"
        return json.loads(record.read_text())["udev_stubs"] if record.exists() else []


@dataclass
class Cloud:
    host: nspawn.Host
    network: nspawn.Network
    public_key: str
    servers: list[Booted] = field(default_factory=list)

    def create(
        self,
        hostname: str,
        address: str,
        floating: str | None = None,
        user_data: str | None = None,
    ) -> Booted:
        """Create a server (overlay + config drive) and, when asked, its floating IP.

        `user_data` replaces the small default one (e.g. the module's rendered cloud-config).
        """
        server_id = str(uuid.uuid4())
        port = nspawn.Port(str(uuid.uuid4()), _mac(), address, self.network)
        meta = {
            "uuid": server_id,
            "name": hostname,
            "hostname": hostname,
            "availability_zone": "nova",
            "launch_index": 0,
            "project_id": "test",
            "public_keys": {"test-key": self.public_key},
            "keys": [{"name": "test-key", "type": "ssh", "data": self.public_key}],
        }
        network_data = {
            "links": [
                {
                    "id": "tap0",
                    "type": "ovs",
                    "ethernet_mac_address": port.mac,
                    "mtu": 1500,
                    "vif_id": port.id,
                }
            ],
            "networks": [
                {
                    "id": "network0",
                    "type": "ipv4",
                    "link": "tap0",
                    "ip_address": address,
                    "netmask": NETMASK,
                    "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": GATEWAY}],
                    "network_id": self.network.id,
                }
            ],
            "services": [],
        }
        drive = {
            "openstack/latest/meta_data.json": json.dumps(meta).encode(),
            "openstack/latest/network_data.json": json.dumps(network_data).encode(),
            "openstack/latest/user_data": (
                user_data if user_data is not None else USER_DATA.format(hostname=hostname)
            ).encode(),
        }
        self.host.create(nspawn.Server(server_id, (port,), drive))
        if floating:
            self.host.add_floating_ip(self.network, floating, address)
        booted = Booted(server_id, hostname, address, port.guest_link, floating)
        self.servers.append(booted)
        return booted

    def marker(self, server: Booted) -> Path:
        """The user_data's file, seen from the host through the server's overlay upper dir."""
        return self.host.server_dir(server.uuid) / "upper" / MARKER.lstrip("/")


def random_floating() -> str:
    return f"198.{random.choice((18, 19))}.{random.randrange(1, 255)}.{random.randrange(1, 255)}"


@contextlib.contextmanager
def cloud(state_dir: Path, rootfs: Path) -> Iterator[Cloud]:
    """A host layer under `state_dir` with one network and a fresh key; all removed on exit."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key = state_dir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "scs-test"],
        check=True,
    )
    host = nspawn.Host(state_dir / "host", rootfs)
    network = nspawn.Network(str(uuid.uuid4()), CIDR, GATEWAY)
    made = Cloud(host, network, (state_dir / "id_ed25519.pub").read_text().strip())
    try:
        yield made
    finally:
        for server in made.servers:
            host.delete(server.uuid, timeout=10)
        host.stop_all(timeout=10)


def tcp_banner(address: str, port: int = 22) -> bytes:
    """The first bytes a TCP service sends (b'' while nothing answers)."""
    import socket

    try:
        with socket.create_connection((address, port), timeout=0.5) as sock:
            sock.settimeout(2)
            return sock.recv(64)
    except OSError:
        return b""


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size of `pids` from /proc/PID/smaps_rollup (vanished ones count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def leftovers(cloud_: Cloud, servers: list[Booted], stubs: list[str]) -> list[str]:
    """Everything of `servers` (and their udev `stubs`) and the cloud's network on the host."""
    found = [f"udev stub {stub}" for stub in stubs if Path(stub).exists()]
    mounts = Path("/proc/mounts").read_text()
    if str(cloud_.host.state_dir) in mounts:
        found.append("overlay mount")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = {cloud_.network.uplink, *(server.link for server in servers)}
    found += [f"link {word}" for word in links.split() if word.rstrip(":").split("@")[0] in names]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    if cloud_.network.namespace in namespaces:
        found.append(f"namespace {cloud_.network.namespace}")
    for server_id in (server.uuid for server in servers):
        if cloud_.host.server_dir(server_id).exists():
            found.append(f"server dir {server_id}")
        machine = nspawn.Server(server_id, ()).machine
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if proc.name.isdigit() and machine in (proc / "cmdline").read_text():
                    found.append(f"process {proc.name}")
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    found += [f"route {line}" for line in routes.splitlines() if cloud_.network.uplink in line]
    return found
