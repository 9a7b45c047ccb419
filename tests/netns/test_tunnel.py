"""sshuttle from the client namespace through the manager to the node's internal address."""

from __future__ import annotations

import subprocess

import pytest

from scs_testbed import runner
from scs_testbed.remote import tunnel
from tests.netns.conftest import NET, NODE_IP
from tests.netns.helpers import cli


def curl(ns: str, seconds: int = 5) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, "curl", "-sf", "-m", str(seconds), f"http://{NODE_IP}:8080/"],
        capture_output=True,
        text=True,
    )


def firewall(ns: str) -> str:
    out = []
    for argv in (["nft", "list", "ruleset"], ["iptables-save"]):
        r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)
        out.append(r.stdout)
    return "\n".join(out)


def sshuttle_processes() -> list[str]:
    r = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if "sshuttle" in line and "ps -eo" not in line]


@pytest.mark.parametrize("method", ["auto", "nft"])
def test_tunnel_reaches_node_http_and_leaves_nothing_behind(workspace, bed, method) -> None:
    before = sshuttle_processes()
    spec = tunnel.TunnelSpec(
        workspace.ssh_config,
        "manager",
        [NET],
        method,
        wrapper=["ip", "netns", "exec", bed.client_ns],
    )
    pid_file = workspace.path / "tunnel.pid"
    pid = tunnel.start_tunnel(spec, pid_file, workspace.log_dir / "tunnel.log", timeout=30)
    try:
        tree = [pid, *runner.descendants(pid)]
        r = curl(bed.client_ns)
        assert r.returncode == 0, (workspace.log_dir / "tunnel.log").read_text()
        assert "hello from node-0" in r.stdout
        assert "sshuttle" in firewall(bed.client_ns)
    finally:
        assert tunnel.stop_tunnel(pid_file) == pid
    assert not any(runner.alive(p) for p in tree)
    assert "sshuttle" not in firewall(bed.client_ns)
    assert sshuttle_processes() == before
    assert not pid_file.exists()
    assert curl(bed.client_ns, 1).returncode != 0


def test_tunnel_cli_background_lists_web_interfaces_and_stops(workspace, bed) -> None:
    r = cli("tunnel", "--background", netns=bed.client_ns)
    try:
        assert r.returncode == 0, r.stderr
        assert "Horizon" in r.stdout and "https://api.testbed.osism.xyz" in r.stdout
        assert "https://ara.testbed.osism.xyz" in r.stdout  # ARA behind traefik
        assert "192.168.16.254 api.testbed.osism.xyz" in r.stdout + r.stderr  # /etc/hosts
        assert "testbed.crt" in r.stdout + r.stderr
        assert "Grafana" not in r.stdout  # deploy_mode openstack has no monitoring
        assert curl(bed.client_ns).returncode == 0
    finally:
        stop = cli("tunnel", "--stop")
    assert stop.returncode == 0 and "tunnel stopped" in stop.stderr
    assert "sshuttle" not in firewall(bed.client_ns)
    assert curl(bed.client_ns, 1).returncode != 0


def test_tunnel_cli_foreground_stops_cleanly_on_ctrl_c(workspace, bed) -> None:
    import os
    import queue
    import signal
    import sys
    import threading

    from tests.netns.helpers import REPO

    before = sshuttle_processes()
    pid_file = workspace.path / "tunnel.pid"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", bed.client_ns, sys.executable, "-m", "scs_testbed", "tunnel"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    # The event the test needs is the message telling the user Ctrl-C stops the tunnel: it is
    # printed once the tunnel is up and the table is out. Waiting for the pid file instead
    # raced with that message under load (the pid file is written before it).
    lines: queue.Queue[str | None] = queue.Queue()
    err_lines: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        while True:
            line = lines.get(timeout=60)
            assert line is not None, f"tunnel exited early: {''.join(err_lines)}"
            err_lines.append(line)
            if "Ctrl-C stops it" in line:
                break
        assert tunnel.running_pid(pid_file) is not None
        assert curl(bed.client_ns).returncode == 0
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        proc.wait(timeout=30)
        reader.join(timeout=30)
    while (line := lines.get_nowait() if not lines.empty() else None) is not None:
        err_lines.append(line)
    assert proc.stdout is not None
    out, err = proc.stdout.read(), "".join(err_lines)
    assert proc.returncode == 130, err
    assert "Horizon" in out
    assert "sshuttle" not in firewall(bed.client_ns)
    assert sshuttle_processes() == before
    assert not pid_file.exists()
