"""sshuttle command line, web interface table, and the notify/stop machinery on a stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scs_testbed import runner
from scs_testbed.errors import InputError, RemoteError
from scs_testbed.remote import tunnel
from scs_testbed.state_dir import DamagedRecord

# A stand-in daemon: forks a setsid'd helper (as sshuttle's firewall does), then says READY.
FAKE_DAEMON = r"""
import os, socket, sys, time
if os.fork() == 0:
    os.setsid()
    time.sleep(60)
    os._exit(0)
if sys.argv[1] == "ready":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1\nSTATUS=up", os.environ["NOTIFY_SOCKET"])
    time.sleep(60)
sys.exit(3)
"""


def test_argv_passes_method_and_disables_controlmaster(tmp_path: Path) -> None:
    spec = tunnel.TunnelSpec(
        tmp_path / "ssh_config",
        "manager",
        ["192.168.16.0/20"],
        "nft",
        wrapper=["ip", "netns", "exec", "x"],
    )
    argv = spec.argv()
    assert argv[:4] == ["ip", "netns", "exec", "x"]
    assert argv[argv.index("--method") + 1] == "nft"
    assert argv[argv.index("-r") + 1] == "manager"
    assert "192.168.16.0/20" in argv
    ssh_cmd = argv[argv.index("--ssh-cmd") + 1]
    assert f"-F {tmp_path}/ssh_config" in ssh_cmd and "ControlMaster=no" in ssh_cmd


def test_unknown_method_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="method"):
        tunnel.TunnelSpec(tmp_path, "manager", [], "magic").argv()


def test_web_interfaces_follow_deploy_mode_and_address_plan() -> None:
    manager = {w.name for w in tunnel.web_interfaces("192.168.16.0/20", "manager")}
    full = tunnel.web_interfaces("192.168.16.0/20", "full", {"api": "192.168.16.254"})
    # Netdata only comes with the monitoring; Netbox (baremetal only) and Cockpit never
    assert manager == {"ARA"}
    urls = {w.name: w.url for w in full}
    assert "Netbox" not in urls and "Cockpit" not in urls
    assert urls["ARA"] == "https://ara.testbed.osism.xyz"  # behind traefik, no plain port
    assert urls["Ceph dashboard"] == "https://api-int.testbed.osism.xyz:8140"
    assert urls["Horizon"] == "https://api.testbed.osism.xyz"
    for name in ("Grafana", "Prometheus", "RabbitMQ", "OpenSearch Dashboards"):
        assert urls[name].startswith("https://"), name
    assert urls["Netdata"] == "http://192.168.16.5:19999"
    assert all(w.purpose for w in full)
    ceph = {w.name for w in tunnel.web_interfaces("192.168.16.0/20", "ceph")}
    assert ceph == {"ARA", "Ceph dashboard"}


def test_every_web_interface_says_which_script_brings_it() -> None:
    for row in tunnel.load_web_interfaces():
        assert row["brought_by"].startswith("scripts/"), row
        assert row["at"] in tunnel.address_plan("192.168.16.0/20"), row


def test_hosts_entries_map_the_private_names() -> None:
    assert tunnel.hosts_entries("192.168.16.0/20", "openstack") == [
        "192.168.16.5 ara.testbed.osism.xyz",
        "192.168.16.9 api-int.testbed.osism.xyz",
        "192.168.16.254 api.testbed.osism.xyz",
    ]
    assert tunnel.hosts_entries("192.168.16.0/20", "manager") == [
        "192.168.16.5 ara.testbed.osism.xyz"
    ]
    assert "testbed.crt" in tunnel.CA_NOTE


def test_start_notified_waits_for_ready_and_stop_tree_ends_the_helper(tmp_path: Path) -> None:
    started = time.monotonic()
    pid = runner.start_notified(
        [sys.executable, "-c", FAKE_DAEMON, "ready"], log_path=tmp_path / "d.log", ready_timeout=10
    )
    assert time.monotonic() - started < 5
    helpers = runner.descendants(pid)
    assert helpers and runner.alive(pid)
    # the helper is setsid'd like sshuttle's firewall; our fake ignores EOF, so SIGKILL follows
    assert runner.stop_tree(pid, timeout=1) is False
    assert not runner.alive(pid) and not any(runner.alive(h) for h in helpers)


def test_start_notified_reports_an_early_exit(tmp_path: Path) -> None:
    with pytest.raises(runner.NotReadyError, match="exited with code 3"):
        runner.start_notified(
            [sys.executable, "-c", "import sys; sys.exit(3)"],
            log_path=tmp_path / "d.log",
            ready_timeout=10,
        )


def test_stale_pid_file_means_no_tunnel(tmp_path: Path) -> None:
    pid_file = tmp_path / "tunnel.pid"
    pid_file.write_text('{"pid": 999999999, "processes": [{"pid": 999999999, "started": "1"}]}')
    assert tunnel.running_pid(pid_file) is None
    assert not pid_file.exists()
    assert tunnel.stop_tunnel(pid_file) is None


def test_stop_never_signals_an_unverified_pid(tmp_path: Path) -> None:
    """A pid file naming a living process whose start time does not match (PID reuse, or a
    forged file naming PID 1 or our own process) signals nothing at all."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = tmp_path / "tunnel.pid"
        for pid in (victim.pid, 1, os.getpid(), os.getpgrp()):
            record = {"pid": pid, "processes": [{"pid": pid, "started": "0"}]}
            pid_file.write_text(json.dumps(record))
            assert tunnel.stop_tunnel(pid_file, timeout=1) is None
        # even a correct start time does not make PID 1, us or our group signallable
        for pid in (1, os.getpid(), os.getpgrp()):
            started = runner.identity(pid) or ""
            record = {"pid": pid, "processes": [{"pid": pid, "started": started}]}
            pid_file.write_text(json.dumps(record))
            assert tunnel.stop_tunnel(pid_file, timeout=1) is None
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("kind", ["fifo", "garbage", "number"])
def test_a_damaged_pid_file_is_an_error_not_a_hang(tmp_path: Path, kind: str) -> None:
    pid_file = tmp_path / "tunnel.pid"
    if kind == "fifo":
        os.mkfifo(pid_file)
    else:
        pid_file.write_text("\x00garbage" if kind == "garbage" else "999999999\n")
    with pytest.raises(DamagedRecord, match=r"tunnel\.pid") as caught:
        tunnel.stop_tunnel(pid_file, timeout=1)
    assert caught.value.exit_code == 2 and "remove" in (caught.value.hint or "")


def test_failed_start_shows_the_log_tail(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        tunnel,
        "sshuttle_command",
        lambda: [sys.executable, "-c", "print('c : fatal: boom'); exit(99)", "--"],
    )
    spec = tunnel.TunnelSpec(tmp_path / "cfg", "manager", ["10.0.0.0/8"])
    with pytest.raises(RemoteError, match="did not come up") as caught:
        tunnel.start_tunnel(spec, tmp_path / "tunnel.pid", tmp_path / "t.log", timeout=10)
    assert "c : fatal: boom" in caught.value.details
