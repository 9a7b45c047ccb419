"""SSH to the stand-ins: pinned keys, node through the manager, a changed key refused."""

from __future__ import annotations

import pytest

from scs_testbed.remote import ssh
from tests.netns.conftest import NODE_IP
from tests.netns.helpers import cli


def test_paramiko_reaches_manager_and_node_through_it(bed) -> None:
    with ssh.connect(bed.manager_target()) as manager:
        code, out, _ = manager.run("ip -4 -o addr show")
        assert code == 0 and bed.mgr.address in out
    with ssh.connect(bed.node_target()) as node:
        code, out, _ = node.run("ip -4 -o addr show")
        assert code == 0 and f"{NODE_IP}/20" in out
        assert node.via is not None


def test_cli_ssh_runs_a_command_on_the_node_via_proxyjump(workspace, bed) -> None:
    r = cli("ssh", "node-0", "--", "ip", "-4", "-o", "addr", "show")
    assert r.returncode == 0, r.stderr
    assert f"{NODE_IP}/20" in r.stdout
    r = cli("ssh", "--", "echo", "on-manager")  # host defaults to the manager
    assert r.returncode == 0 and r.stdout.strip() == "on-manager", r.stderr


def test_ssh_config_pins_keys_strictly(workspace) -> None:
    text = workspace.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in text
    assert "StrictHostKeyChecking no" not in text
    assert "ProxyJump manager" in text


def test_unknown_host_is_an_input_error(workspace) -> None:
    r = cli("ssh", "node-7", "--", "true")
    assert r.returncode == 2
    assert "manager, node-0" in r.stderr


def test_changed_host_key_is_refused_with_an_explanation(workspace, bed) -> None:
    bed.mgr.stop_sshd()
    bed.mgr.new_host_key()  # as if the floating IP now belonged to another VM
    bed.mgr.start_sshd(bed.dir / "id_ed25519.pub")
    try:
        with pytest.raises(ssh.HostKeyChangedError) as caught:
            ssh.connect(bed.manager_target(), retry_for=5)
        assert "differs from the one pinned" in caught.value.message
        assert "recycled" in (caught.value.hint or "")
        r = cli("ssh", "--", "true")
        assert r.returncode == 5
        assert "differs from the one pinned" in r.stderr
        with pytest.raises(ssh.HostKeyChangedError):  # the node behind it is refused too
            ssh.connect(bed.node_target())
    finally:
        bed.pin_from_console()  # re-pin, as `ssh --pin` would from the console log
    with ssh.connect(bed.manager_target()) as manager:
        assert manager.run("true")[0] == 0


def test_unpinned_node_is_refused_and_explained(workspace, bed) -> None:
    from scs_testbed.remote import testbed

    testbed.pin_host_keys(workspace, {"manager": [bed.mgr.host_key()]})
    r = cli("ssh", "node-0", "--", "true")
    assert r.returncode == 5
    assert "no pinned host key for node-0" in r.stderr
    assert "ssh --pin" in r.stderr
