"""Host keys from console logs, known_hosts and ssh_config rendering."""

from __future__ import annotations

import stat
from pathlib import Path

from scs_testbed.remote.hostkeys import (
    HostEntry,
    HostKey,
    known_hosts_name,
    parse_console_host_keys,
    render_known_hosts,
    render_ssh_config,
    write_known_hosts,
)

GOLDEN = Path(__file__).parent / "golden" / "remote"


def test_last_complete_block_of_the_console_wins() -> None:
    keys = parse_console_host_keys((GOLDEN / "console_manager.log").read_text())
    text = render_known_hosts({"203.0.113.7": keys})
    assert text == (GOLDEN / "console_manager.expected.txt").read_text()


def test_no_block_no_keys() -> None:
    assert parse_console_host_keys("[ 1.0] booting\n-----BEGIN SSH HOST KEY KEYS-----\n") == []


def test_known_hosts_names_and_file_mode(tmp_path: Path) -> None:
    assert known_hosts_name("10.0.0.1") == "10.0.0.1"
    assert known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    path = tmp_path / "sub" / "known_hosts"
    write_known_hosts(path, {"10.0.0.1": [HostKey("ssh-ed25519", "AAAAC3xyz")]})
    assert path.read_text() == "10.0.0.1 ssh-ed25519 AAAAC3xyz\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_ssh_config_pins_strictly_and_jumps_through_the_manager(tmp_path: Path) -> None:
    text = render_ssh_config(
        [
            HostEntry("manager", "203.0.113.7", "ubuntu"),
            HostEntry("node-0", "192.168.16.10", "ubuntu", jump="manager"),
            HostEntry("odd", "10.1.1.1", "root", port=2222),
        ],
        key_file=tmp_path / "my dir" / "id_ed25519",
        known_hosts=tmp_path / "known_hosts",
        header="generated",
    )
    assert text.startswith("# generated\nHost manager\n  HostName 203.0.113.7\n  User ubuntu\n")
    assert "Host node-0\n  HostName 192.168.16.10\n  User ubuntu\n  ProxyJump manager\n" in text
    assert "  Port 2222\n" in text
    assert f'  IdentityFile "{tmp_path}/my dir/id_ed25519"' in text
    assert "StrictHostKeyChecking yes" in text and "StrictHostKeyChecking no" not in text
    assert "UpdateHostKeys no" in text
