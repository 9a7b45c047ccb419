"""Workspace glue: finding the testbed, hosts, ssh files, and connection errors on loopback."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from scs_testbed.errors import InputError, RemoteError
from scs_testbed.remote import ssh, testbed
from scs_testbed.remote.hostkeys import HostKey
from scs_testbed.workspace import Workspace, find_workspace

OUTPUTS = {
    "manager_address": "203.0.113.7",
    "manager_internal_address": "192.168.16.5",
    "node_addresses": ["192.168.16.10", "192.168.16.11"],
    "vip_addresses": ["192.168.16.8", "192.168.16.9", "192.168.31.254"],
    "image_user": "ubuntu",
    "image_node_user": "debian",
    "networks": {"management": {"id": "n", "cidr": "192.168.16.0/20"}},
    "servers": {"manager": "m-id", "nodes": ["n0-id", "n1-id"]},
}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path))
    return tmp_path


def make(name: str) -> Workspace:
    ws = Workspace.named(name)
    ws.create()
    ws.write_meta({"name": name})
    ws.write_private(ws.outputs_file, json.dumps(OUTPUTS))
    return ws


def test_find_workspace(state: Path) -> None:
    with pytest.raises(InputError, match="there is no testbed"):
        find_workspace(None)
    make("alpha")
    assert find_workspace(None).name == "alpha"
    make("beta")
    with pytest.raises(InputError, match="several") as caught:
        find_workspace(None)
    assert "alpha, beta" in (caught.value.hint or "")
    assert find_workspace("beta").name == "beta"
    with pytest.raises(InputError, match="no testbed named"):
        find_workspace("gamma")


def test_hosts_targets_and_ssh_files(state: Path) -> None:
    ws = make("alpha")
    path = testbed.write_ssh_config(ws)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "Host node-1\n  HostName 192.168.16.11\n  User debian\n  ProxyJump manager" in text
    targets = testbed.targets(ws)
    assert targets["node-0"].jump == targets["manager"]
    assert targets["manager"].host == "203.0.113.7"
    testbed.pin_host_keys(
        ws,
        {"manager": [HostKey("ssh-ed25519", "AAAA1")], "node-1": [HostKey("ssh-ed25519", "AAAA2")]},
    )
    assert ws.known_hosts.read_text() == (
        "203.0.113.7 ssh-ed25519 AAAA1\n192.168.16.11 ssh-ed25519 AAAA2\n"
    )
    assert testbed.server_ids(OUTPUTS) == {"manager": "m-id", "node-0": "n0-id", "node-1": "n1-id"}
    assert testbed.interface_overrides(OUTPUTS)["api"] == "192.168.31.254"


def test_check_host() -> None:
    assert testbed.check_host("node-1", OUTPUTS) == "node-1"
    with pytest.raises(InputError, match="unknown host") as caught:
        testbed.check_host("node-2", OUTPUTS)
    assert caught.value.hint == "choose one of: manager, node-0, node-1"


def test_connect_to_a_closed_port_gives_a_remote_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text("")
    target = ssh.SshTarget("127.0.0.1", "u", tmp_path / "k", known, port=port)
    with pytest.raises(RemoteError, match="cannot connect") as caught:
        ssh.connect(target, retry_for=0.3, timeout=1)
    assert "console" in (caught.value.hint or "")


def test_missing_known_hosts_is_explained(tmp_path: Path) -> None:
    target = ssh.SshTarget("127.0.0.1", "u", tmp_path / "k", tmp_path / "none")
    with pytest.raises(RemoteError, match="no known_hosts"):
        ssh.connect(target)
