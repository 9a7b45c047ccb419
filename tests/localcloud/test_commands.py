"""status, env, logs, and the faults `up` must report clearly."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from scs_testbed import localcloud
from scs_testbed.errors import InputError
from scs_testbed.localcloud import procs
from scs_testbed.localcloud.services import SERVICES
from tests.localcloud.conftest import LocalCloud, cli


def test_status_shows_every_service_up(cloud: LocalCloud) -> None:
    done = cli("localcloud", "status")
    assert done.returncode == 0, done.stderr
    total = len(SERVICES)  # the cloud's services and its package mirrors (services.py)
    assert f"{total}/{total} running" in done.stderr
    for name in ("keystone", "nova-compute", "cinder-volume", "rabbitmq", "mariadb"):
        assert name in done.stdout
    rows = localcloud.status()
    assert all(r.running and r.rss_bytes > 0 for r in rows)
    assert all(r.listening for r in rows if r.port)


def test_env_points_at_the_clouds_file(cloud: LocalCloud) -> None:
    done = cli("localcloud", "env")
    assert done.returncode == 0
    assert f"export OS_CLIENT_CONFIG_FILE={cloud.clouds_file}" in done.stdout
    assert "export OS_CLOUD=localcloud" in done.stdout
    assert cloud.clouds_file.stat().st_mode & 0o077 == 0


def test_logs_of_a_service(cloud: LocalCloud) -> None:
    done = cli("localcloud", "logs", "nova-compute", "-n", "5")
    assert done.returncode == 0
    assert "nova-compute.log" in done.stderr
    assert 0 < len(done.stdout.splitlines()) <= 5 * 3  # long lines may wrap
    unknown = cli("localcloud", "logs", "nova-computer")
    assert unknown.returncode == 2 and "cinder-volume" in unknown.stderr


def test_services_listen_on_loopback_only(cloud: LocalCloud) -> None:
    for table in ("tcp", "tcp6"):
        for line in Path("/proc/net", table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state != "0A" or int(port, 16) not in {
                4369,
                3306,
                5672,
                25672,
                5000,
                9292,
                8778,
                9696,
                8774,
                8776,
            }:
                continue
            assert address in ("0100007F", "00000000000000000000000001000000"), line


def test_mirrors_listen_on_the_mirror_address_only(cloud: LocalCloud) -> None:
    """apt-cacher-ng and devpi: on the host side of the servers' router, nowhere else."""
    import ipaddress

    from scs_testbed.localcloud import mirrors

    wanted = ipaddress.ip_address(mirrors.MIRROR_ADDRESS).packed[::-1].hex().upper()
    found = {}
    for table in ("tcp", "tcp6"):
        for line in Path("/proc/net", table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) in mirrors.MIRROR_PORTS:
                found.setdefault(int(port, 16), set()).add(address)
    assert found == {port: {wanted} for port in mirrors.MIRROR_PORTS}, found


def test_port_holder_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert (os.getpid(), procs.command_name(os.getpid())) in procs.port_holders(port)


def test_taken_ports_are_reported_with_their_process(cloud: LocalCloud, tmp_path: Path) -> None:
    """A second cloud in another directory finds every port taken by the first one."""
    real = localcloud.Layout.default()
    other = localcloud.Layout(tmp_path / "other")
    other.root.mkdir()
    (other.root / "venv").symlink_to(real.venv)
    with pytest.raises(InputError) as caught:
        localcloud.up(layout=other, progress=lambda _m: None)
    details = "\n".join(caught.value.details)
    assert "port 3306 (mariadb) is in use by mariadbd" in details
    assert "port 5000 (keystone) is in use by gunicorn" in details


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(InputError) as caught:
        localcloud.up()
    assert caught.value.exit_code == 2
    assert "root" in caught.value.message and "MariaDB" in (caught.value.hint or "")
