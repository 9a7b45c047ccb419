"""The host layer's and the image's pure parts: names, records, config drive, mirror lookup."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from scs_testbed.localcloud import image
from scs_testbed.localcloud.plugins.scs_localcloud_plugins import nspawn


def _server(drive: dict[str, bytes] | None = None) -> nspawn.Server:
    network = nspawn.Network(str(uuid.uuid4()), "192.168.16.0/20", "192.168.16.1")
    port = nspawn.Port(str(uuid.uuid4()), "fa:16:3e:00:00:01", "192.168.16.5", network)
    return nspawn.Server(str(uuid.uuid4()), (port,), drive or {})


def test_link_names_fit_the_kernel_and_differ_per_port_and_network() -> None:
    servers = [_server() for _ in range(50)]
    names = [
        name
        for server in servers
        for port in server.ports
        for name in (port.guest_link, port.bridge_link, port.network.uplink)
    ]
    assert all(len(name) <= 15 for name in names)  # IFNAMSIZ - 1
    assert len(set(names)) == len(names)
    assert len({s.ports[0].network.namespace for s in servers}) == 50
    assert len({s.machine for s in servers}) == 50


def test_create_writes_the_config_drive_into_the_upper_layer(tmp_path: Path) -> None:
    host = nspawn.Host(tmp_path, tmp_path / "rootfs")
    drive = {"openstack/latest/user_data": b"#cloud-config\n", "ec2/latest/meta-data.json": b"{}"}
    server = _server(drive)
    host.create(server)
    seed = host.server_dir(server.uuid) / "upper" / nspawn.SEED
    assert (seed / "openstack/latest/user_data").read_bytes() == b"#cloud-config\n"
    assert (seed / "ec2/latest/meta-data.json").read_bytes() == b"{}"
    assert host.server_uuids() == [server.uuid]
    assert host._read_record(server.uuid).ports == server.ports
    assert not host.is_running(server.uuid)
    assert host.console_output(server.uuid) == b""


def test_config_drive_paths_stay_in_the_seed(tmp_path: Path) -> None:
    host = nspawn.Host(tmp_path, tmp_path / "rootfs")
    with pytest.raises(ValueError, match="outside the seed"):
        host.create(_server({"../../../../etc/shadow": b"x"}))


def test_console_output_is_the_tail(tmp_path: Path) -> None:
    host = nspawn.Host(tmp_path, tmp_path / "rootfs")
    server = _server()
    host.create(server)
    host.console_file(server.uuid).write_bytes(b"a" * 10 + b"end")
    assert host.console_output(server.uuid, limit=3) == b"end"


def test_host_mirror_reads_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert image.host_mirror(tmp_path) == "http://mirror.invalid/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://other.invalid/d bookworm main\n"
    )
    assert image.host_mirror(tmp_path) == "http://other.invalid/d"


def test_image_key_follows_the_package_list() -> None:
    assert image.image_key() == image.image_key(tuple(reversed(image.PACKAGES)))
    assert image.image_key() != image.image_key((*image.PACKAGES, "vim"))
