"""The local cloud's host layer boots a real Debian image as an nspawn container.

Real cloud-init reads the config drive, real sshd answers on the floating IP from the host
(DNAT in the network's namespace), the console carries the host keys, and delete leaves no
process, mount, veth, namespace, route or udev stub behind. Needs root (netns tier) and the
cached image (built on first use: a few minutes).
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scs_testbed.localcloud import Layout, image
from scs_testbed.remote import hostkeys
from tests.netns import containers

BOOT_TIMEOUT = 180.0  # 2 shared cores: cloud-init's modules:final takes seconds to tens


@pytest.fixture(scope="module")
def rootfs() -> Path:
    if not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")):
        pytest.fail("systemd-nspawn/debootstrap missing (.ci/run installs them for this tier)")
    return image.ensure_image(Layout.default()).rootfs


@pytest.fixture
def cloud(rootfs: Path, tmp_path: Path) -> Iterator[containers.Cloud]:
    with containers.cloud(tmp_path / "cloud", rootfs) as made:
        yield made


def _ssh(cloud: containers.Cloud, server: containers.Booted, keys: list[hostkeys.HostKey]):  # type: ignore[no-untyped-def]
    """A paramiko client to the server's floating IP that trusts only the console's keys."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    assert server.floating
    for key in keys:
        blob = base64.b64decode(key.blob)
        pkey = paramiko.PKey.from_type_string(key.key_type, blob)
        client.get_host_keys().add(server.floating, key.key_type, pkey)
    # Host keys on the console do not mean sshd listens yet (cloud-init restarts it after
    # writing them): the event wanted is an accepted connection, so poll for exactly that.
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        try:
            client.connect(
                server.floating,
                username=containers.DEFAULT_USER,
                key_filename=str(cloud.host.state_dir.parent / "id_ed25519"),
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
            )
            return client
        except paramiko.ssh_exception.NoValidConnectionsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_boot_ssh_reboot_delete(cloud: containers.Cloud) -> None:
    host = cloud.host
    server = cloud.create("scs-test-mgr", "192.168.16.5", containers.random_floating())
    host.start(server.uuid)

    containers.wait_until(cloud.marker(server).exists, BOOT_TIMEOUT, "the user_data's file")
    console = lambda: host.console_output(server.uuid).decode(errors="replace")  # noqa: E731
    containers.wait_until(
        lambda: hostkeys.END_MARKER in console(), BOOT_TIMEOUT, "host keys on the console"
    )
    keys = hostkeys.parse_console_host_keys(console())
    assert {key.key_type for key in keys} >= {"ssh-ed25519"}
    on_disk = (host.server_dir(server.uuid) / "upper/etc/ssh/ssh_host_ed25519_key.pub").read_text()
    assert any(key.blob in on_disk for key in keys)

    assert server.floating
    containers.wait_until(
        lambda: containers.tcp_banner(server.floating or "").startswith(b"SSH-2.0"),
        BOOT_TIMEOUT,
        "sshd on the floating IP",
    )
    client = _ssh(cloud, server, keys)
    try:
        _, out, _ = client.exec_command(f"hostname; cat {containers.MARKER}")
        assert out.read().decode().split() == ["scs-test-mgr", "scs-test-mgr", "runcmd-done"]
    finally:
        client.close()

    # reboot: same disk (host keys kept), sshd back on the floating IP
    host.reboot(server.uuid, timeout=30)
    assert host.is_running(server.uuid)
    containers.wait_until(
        lambda: containers.tcp_banner(server.floating or "").startswith(b"SSH-2.0"),
        BOOT_TIMEOUT,
        "sshd after the reboot",
    )
    client = _ssh(cloud, server, keys)
    try:  # the guest reboots itself: nspawn exits 133, restart_rebooted boots it again
        old_pid = host.pids(server.uuid)[0]
        client.exec_command("sudo systemctl reboot")
    finally:
        client.close()
    containers.wait_until(
        lambda: server.uuid in host.restart_rebooted(), BOOT_TIMEOUT, "the guest's reboot"
    )
    assert host.is_running(server.uuid) and host.pids(server.uuid)[0] != old_pid
    containers.wait_until(
        lambda: containers.tcp_banner(server.floating or "").startswith(b"SSH-2.0"),
        BOOT_TIMEOUT,
        "sshd after the guest's reboot",
    )
    _ssh(cloud, server, keys).close()

    stubs = server.udev_stubs(host)
    host.delete(server.uuid, timeout=30)
    # neutron still has the floating IP on the port: its namespace and route stay until it goes
    left = containers.leftovers(cloud, [server], stubs)
    assert f"namespace {cloud.network.namespace}" in left
    assert not [i for i in left if i.startswith(("process", "server", "overlay", "udev"))]
    host.remove_floating_ip(cloud.network, server.floating)
    assert containers.leftovers(cloud, [server], stubs) == []


def test_two_clouds_side_by_side_then_stop_all(rootfs: Path, tmp_path: Path) -> None:
    """Same CIDR, same fixed IP, two networks: no clash; stop_all leaves no namespace."""
    with (
        containers.cloud(tmp_path / "a", rootfs) as a,
        containers.cloud(tmp_path / "b", rootfs) as b,
    ):
        servers = [
            (cloud, cloud.create(name, "192.168.16.5", containers.random_floating()))
            for cloud, name in ((a, "scs-test-a"), (b, "scs-test-b"))
        ]
        for cloud, server in servers:
            cloud.host.start(server.uuid)
        for cloud, server in servers:
            containers.wait_until(cloud.marker(server).exists, BOOT_TIMEOUT, "user_data")
            containers.wait_until(
                lambda cloud=cloud, server=server: (
                    hostkeys.END_MARKER
                    in cloud.host.console_output(server.uuid).decode(errors="replace")
                ),
                BOOT_TIMEOUT,
                "host keys",
            )
            console = cloud.host.console_output(server.uuid).decode(errors="replace")
            client = _ssh(cloud, server, hostkeys.parse_console_host_keys(console))
            try:
                _, out, _ = client.exec_command("hostname")
                assert out.read().decode().strip() == server.hostname
            finally:
                client.close()
        stubs = [stub for cloud, server in servers for stub in server.udev_stubs(cloud.host)]
        for cloud, _ in servers:
            cloud.host.stop_all(timeout=30)
        for cloud, server in servers:
            assert not cloud.host.is_running(server.uuid)
            left = containers.leftovers(cloud, [server], stubs)
            assert left == [f"server dir {server.uuid}"]  # stop_all keeps the disks


def test_delete_after_a_crash_cleans_up(cloud: containers.Cloud) -> None:
    """nspawn killed with SIGKILL (as in a crash of nova-compute's host): delete still cleans."""
    import os
    import signal

    host = cloud.host
    server = cloud.create("scs-test-crash", "192.168.16.7")
    pid = host.start(server.uuid)
    containers.wait_until(cloud.marker(server).exists, BOOT_TIMEOUT, "user_data")
    stubs = server.udev_stubs(host)
    os.kill(pid, signal.SIGKILL)  # our own child, by its PID
    containers.wait_until(lambda: not host.is_running(server.uuid), 30, "nspawn gone")
    host.delete(server.uuid, timeout=10)
    try:
        containers.wait_until(
            lambda: containers.leftovers(cloud, [server], stubs) == [], 30, "the container's end"
        )
    except TimeoutError:
        pytest.fail(f"left behind: {containers.leftovers(cloud, [server], stubs)}")
