"""Stand-in hosts made of network namespaces, each with its own sshd and host keys.

    root ns (the user) --veth-- mgr (sshd, forwarding) --veth-- node (sshd, http :8080)
                                  `--veth-- client (the user's laptop, for the tunnel)

The management network 192.168.16.0/20 exists only between mgr and node; the client reaches
it only through sshuttle. Everything is removed at the end, also when tests fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scs_testbed.remote import hostkeys
from scs_testbed.remote.ssh import SshTarget

MGR_INT, NODE_IP, NET = "192.168.16.5", "192.168.16.10", "192.168.16.0/20"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Host:
    """One namespace with an sshd."""

    ns: str
    address: str
    dir: Path
    sshd: subprocess.Popen[bytes] | None = None

    def exec(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def listening(self, port: int) -> bool:
        out = sh(*self.exec("ss", "-Hltn", f"sport = :{port}"), check=False).stdout
        return bool(out.strip())

    def new_host_key(self) -> None:
        for suffix in ("", ".pub"):
            (self.dir / f"host_ed25519{suffix}").unlink(missing_ok=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "host_ed25519"))

    def start_sshd(self, authorized: Path) -> None:
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.address}",
                    "Port 22",
                    f"HostKey {self.dir / 'host_ed25519'}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "AllowTcpForwarding yes",
                    "X11Forwarding no",
                    "UseDNS no",
                    "MaxStartups 100",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        sh("/usr/sbin/sshd", "-t", "-f", str(config))
        sshd = ["/usr/sbin/sshd", "-D", "-f", str(config), "-E", str(self.dir / "sshd.log")]
        # The machine's own ~/.bashrc (read by bash under sshd) must not slow or break the
        # sessions: a private mount namespace shows an empty one to this sshd only.
        bashrc = Path.home() / ".bashrc"
        if bashrc.exists():
            empty = self.dir / "empty-bashrc"
            empty.write_text("")
            script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
            sshd = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
                str(empty),
                str(bashrc),
                *sshd,
            ]
        self.sshd = subprocess.Popen(self.exec(*sshd))
        wait_until(lambda: self.listening(22), what=f"sshd in {self.ns}")

    def sshd_pids(self) -> list[int]:
        """The listener and every session process of this namespace's sshd."""
        pids = []
        for pid in sh("ip", "netns", "pids", self.ns, check=False).stdout.split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    pids.append(int(pid))
        return pids

    def stop_sshd(self) -> None:
        """Kill sshd and all its sessions: every connection drops, as on a VM reboot."""
        for pid in self.sshd_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.sshd is not None:
            self.sshd.wait(10)
            self.sshd = None
        wait_until(lambda: not self.sshd_pids(), what=f"sshd gone in {self.ns}")

    def host_key(self) -> hostkeys.HostKey:
        key_type, blob = (self.dir / "host_ed25519.pub").read_text().split()[:2]
        return hostkeys.HostKey(key_type, blob)


@dataclass
class Bed:
    """The namespaces and the files a test needs to reach them."""

    prefix: str
    dir: Path
    mgr: Host
    node: Host
    client_ns: str
    key: Path
    known_hosts: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def console_text(self, host: Host) -> str:
        """What cloud-init would print on the VM's console: noise, then the key block."""
        key = host.host_key()
        return (
            "[   10.1] cloud-init[812]: Cloud-init v. 24.1 running 'modules:final'\n"
            "ci-info: no authorized SSH keys fingerprints found for user ubuntu.\n"
            f"<14>Jan  1 00:00:00 cloud-init: {hostkeys.BEGIN_MARKER}\n"
            f"<14>Jan  1 00:00:00 cloud-init: {key.key_type} {key.blob} root@{host.ns}\n"
            f"<14>Jan  1 00:00:00 cloud-init: {hostkeys.END_MARKER}\n"
        )

    def pin_from_console(self) -> None:
        hostkeys.write_known_hosts(
            self.known_hosts,
            {
                self.mgr.address: hostkeys.parse_console_host_keys(self.console_text(self.mgr)),
                NODE_IP: hostkeys.parse_console_host_keys(self.console_text(self.node)),
            },
        )

    def manager_target(self) -> SshTarget:
        return SshTarget(self.mgr.address, "root", self.key, self.known_hosts, name="manager")

    def node_target(self) -> SshTarget:
        return SshTarget(
            NODE_IP, "root", self.key, self.known_hosts, jump=self.manager_target(), name="node-0"
        )

    def workspace_outputs(self) -> dict[str, object]:
        return {
            "manager_address": self.mgr.address,
            "manager_internal_address": MGR_INT,
            "node_addresses": [NODE_IP],
            "vip_addresses": ["192.168.16.8", "192.168.16.9", "192.168.16.254"],
            "image_user": "root",
            "image_node_user": "root",
            "networks": {"management": {"id": "net-1", "cidr": NET}},
            "servers": {"manager": "srv-m", "nodes": ["srv-0"]},
        }


def _down(prefix: str, bed_dir: Path | None) -> None:
    for suffix in ("client", "node", "mgr"):
        ns = f"{prefix}-{suffix}"
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    for suffix in ("client", "node", "mgr"):
        ns = f"{prefix}-{suffix}"
        # The sshd's private mount namespaces hold the netns mount until they are gone.
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda ns=ns: not sh("ip", "netns", "pids", ns, check=False).stdout.strip(),
                what=f"processes of {ns} to exit",
            )
        sh("ip", "netns", "del", ns, check=False)
    left = [n for n in sh("ip", "netns", "list").stdout.split() if n.startswith(f"{prefix}-")]
    assert not left, f"namespaces left behind: {left}"
    sh("ip", "link", "del", f"{prefix}h", check=False)
    if bed_dir is not None:
        shutil.rmtree(bed_dir, ignore_errors=True)


@contextlib.contextmanager
def stand_ins(base: Path) -> Iterator[Bed]:
    """Create the namespaces, sshds and http server under `base`; remove all on exit."""
    # Random names and transfer nets so parallel runs and other users of the machine never clash.
    tag = random.randrange(16, 250)
    prefix = f"sct{tag}"
    root_ip, mgr_ip = f"10.231.{tag}.1", f"10.231.{tag}.2"
    client_gw, client_ip = f"10.232.{tag}.1", f"10.232.{tag}.2"
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    base.mkdir(parents=True, exist_ok=True)
    mgr = Host(f"{prefix}-mgr", mgr_ip, base / "mgr")
    node = Host(f"{prefix}-node", NODE_IP, base / "node")
    client_ns = f"{prefix}-client"
    _reap_stale_beds()
    OWNERS.mkdir(parents=True, exist_ok=True)
    owner = OWNERS / prefix
    owner.write_text(str(os.getpid()))
    try:
        for ns in (mgr.ns, node.ns, client_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"{prefix}h", "type", "veth", "peer", "name", "m0", "netns", mgr.ns)
        sh("ip", "addr", "add", f"{root_ip}/30", "dev", f"{prefix}h")
        sh("ip", "link", "set", f"{prefix}h", "up")
        sh("ip", "-n", mgr.ns, "addr", "add", f"{mgr_ip}/30", "dev", "m0")
        sh("ip", "-n", mgr.ns, "link", "set", "m0", "up")
        sh(
            "ip",
            "-n",
            mgr.ns,
            "link",
            "add",
            "m1",
            "type",
            "veth",
            "peer",
            "name",
            "n0",
            "netns",
            node.ns,
        )
        sh("ip", "-n", mgr.ns, "addr", "add", f"{MGR_INT}/20", "dev", "m1")
        sh("ip", "-n", mgr.ns, "link", "set", "m1", "up")
        sh("ip", "-n", node.ns, "addr", "add", f"{NODE_IP}/20", "dev", "n0")
        sh("ip", "-n", node.ns, "link", "set", "n0", "up")
        sh("ip", "-n", node.ns, "route", "add", "default", "via", MGR_INT)
        sh(
            "ip",
            "-n",
            mgr.ns,
            "link",
            "add",
            "m2",
            "type",
            "veth",
            "peer",
            "name",
            "c0",
            "netns",
            client_ns,
        )
        sh("ip", "-n", mgr.ns, "addr", "add", f"{client_gw}/30", "dev", "m2")
        sh("ip", "-n", mgr.ns, "link", "set", "m2", "up")
        sh("ip", "-n", client_ns, "addr", "add", f"{client_ip}/30", "dev", "c0")
        sh("ip", "-n", client_ns, "link", "set", "c0", "up")
        sh("ip", "-n", client_ns, "route", "add", f"{mgr_ip}/32", "via", client_gw)
        # The management net is on-link from the client but nobody answers there: only
        # sshuttle (which redirects in the client's own firewall) gets through.
        sh("ip", "-n", client_ns, "route", "add", NET, "dev", "c0")
        for ns in (mgr.ns, client_ns):  # the manager answers the client's replies
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", mgr.ns, "route", "add", f"{root_ip}/32", "dev", "m0", check=False)
        key = base / "id_ed25519"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "scs-test")
        bed = Bed(prefix, base, mgr, node, client_ns, key, base / "known_hosts")
        for host in (mgr, node):
            host.dir.mkdir()
            host.new_host_key()
            host.start_sshd(base / "id_ed25519.pub")
        web = base / "www"
        web.mkdir()
        (web / "index.html").write_text("hello from node-0\n")
        bed.processes.append(
            subprocess.Popen(
                node.exec(
                    "python3",
                    "-m",
                    "http.server",
                    "8080",
                    "--bind",
                    NODE_IP,
                    "--directory",
                    str(web),
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_until(lambda: node.listening(8080), what="http server on node")
        bed.pin_from_console()
        yield bed
    finally:
        _down(prefix, None)
        owner.unlink(missing_ok=True)


OWNERS = Path("/run/scs-testbed-netns")


def _reap_stale_beds() -> None:
    """Remove the namespaces of earlier runs that died without cleaning up (e.g. SIGKILL)."""
    if not OWNERS.is_dir():
        return
    for record in OWNERS.iterdir():
        try:
            pid = int(record.read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and Path(f"/proc/{pid}").exists():
            continue  # a run in progress
        _down(record.name, None)
        record.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    started = time.perf_counter()
    with stand_ins(tmp_path_factory.mktemp("bed")) as made:
        print(f"\nnetns bed up in {time.perf_counter() - started:.2f}s")
        yield made
    print(f"netns bed torn down, {time.perf_counter() - started:.2f}s in total")


@pytest.fixture
def remote_files(bed: Bed, tmp_path: Path) -> dict[str, Path]:
    """Fresh progress/log files for one test (the manager and the user share the filesystem)."""
    d = tmp_path / "scs-testbed"
    d.mkdir()
    return {
        "progress": d / "progress.jsonl",
        "log": d / "bootstrap.log",
        "result": d / "result.json",
        "dir": d,
    }


@pytest.fixture
def workspace(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A testbed workspace whose outputs point at the namespaces."""
    from scs_testbed.remote import testbed
    from scs_testbed.workspace import Workspace

    state = tmp_path / "state"
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(state))
    ws = Workspace.named("nsbed")
    ws.create()
    ws.write_meta({"name": "nsbed", "deploy_mode": "openstack"})
    outputs = bed.workspace_outputs()
    ws.write_private(ws.outputs_file, json.dumps(outputs))
    ws.write_private(ws.private_key, bed.key.read_text())
    testbed.write_ssh_config(ws, outputs)
    keys = {"manager": [bed.mgr.host_key()], "node-0": [bed.node.host_key()]}
    testbed.pin_host_keys(ws, keys, outputs)
    return ws
