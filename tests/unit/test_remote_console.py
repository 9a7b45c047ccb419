"""Console logs and host-key pinning through a stand-in for the openstacksdk connection."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scs_testbed.errors import RemoteError
from scs_testbed.remote import console, testbed
from scs_testbed.workspace import Workspace

GOLDEN = Path(__file__).parent / "golden" / "remote"


class FakeCompute:
    """Only the two calls console.py makes; console text per server ID."""

    def __init__(self, consoles: dict[str, list[str]]) -> None:
        self.consoles = consoles
        self.calls: list[tuple[str, int | None]] = []

    def get_server(self, server_id: str) -> Any:
        import openstack.exceptions

        if server_id not in self.consoles:
            raise openstack.exceptions.ResourceNotFound(f"No Server found for {server_id}")
        return SimpleNamespace(id=server_id)

    def get_server_console_output(self, server: Any, length: int | None = None) -> dict[str, str]:
        self.calls.append((server.id, length))
        outputs = self.consoles[server.id]
        return {"output": outputs.pop(0) if len(outputs) > 1 else outputs[0]}


def test_console_log_and_missing_server() -> None:
    cloud = SimpleNamespace(compute=FakeCompute({"m": ["line 1\nline 2\n"]}))
    assert console.console_log(cloud, "m", 50) == "line 1\nline 2\n"
    assert cloud.compute.calls == [("m", 50)]
    with pytest.raises(RemoteError, match="does not exist"):
        console.console_log(cloud, "gone")


def test_wait_for_host_keys_polls_until_cloud_init_printed_them() -> None:
    booted = (GOLDEN / "console_manager.log").read_text()
    consoles = {"m": ["[ 1.0] booting\n", booted], "n": ["[ 1.0] booting\n"] * 3 + [booted]}
    cloud = SimpleNamespace(compute=FakeCompute(consoles))
    keys = console.wait_for_host_keys(
        lambda: cloud, {"manager": "m", "node-0": "n"}, 5, pauses=(0,)
    )
    assert [k.key_type for k in keys["manager"]] == ["ecdsa-sha2-nistp256", "ssh-ed25519"]
    assert keys["node-0"] == keys["manager"]
    # the manager's log is not read again once its keys were found
    calls = [server for server, _ in cloud.compute.calls]  # read concurrently: any order
    assert (calls.count("m"), calls.count("n")) == (2, 4)
    cloud = SimpleNamespace(compute=FakeCompute({"m": [booted], "n": ["[ 1.0] booting\n"]}))
    with pytest.raises(RemoteError, match=r"node-0 \(n\): no SSH host keys"):
        console.wait_for_host_keys(lambda: cloud, {"manager": "m", "node-0": "n"}, 0, pauses=(0,))


def test_prepare_access_writes_ssh_config_and_pins_every_vm(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path))
    ws = Workspace.named("tb")
    ws.create()
    ws.write_meta({"name": "tb"})
    ws.write_private(ws.tfvars_file, json.dumps({"cloud_provider": "mycloud"}))
    ws.write_private(
        ws.outputs_file,
        json.dumps(
            {
                "manager_address": "203.0.113.7",
                "node_addresses": ["192.168.16.10"],
                "image_user": "ubuntu",
                "servers": {"manager": "m", "nodes": ["n0"]},
            }
        ),
    )
    booted = (GOLDEN / "console_manager.log").read_text()
    fake = SimpleNamespace(compute=FakeCompute({"m": [booted], "n0": [booted]}))
    opened: list[str] = []
    monkeypatch.setattr(console, "open_cloud", lambda name: opened.append(name) or fake)
    testbed.prepare_access(ws, timeout=1)
    assert opened == ["mycloud"]
    assert "ProxyJump manager" in ws.ssh_config.read_text()
    pinned = ws.known_hosts.read_text().splitlines()
    assert [line.split()[0] for line in pinned] == ["203.0.113.7"] * 2 + ["192.168.16.10"] * 2


def created(resource_type: str, server: str, action: str = "create") -> dict[str, Any]:
    """Terraform's -json event of a finished create."""
    return {
        "type": "apply_complete",
        "hook": {
            "resource": {"resource_type": resource_type, "addr": f"{resource_type}.x"},
            "action": action,
            "id_key": "id",
            "id_value": server,
        },
    }


def test_early_host_keys_are_read_from_each_server_created_during_the_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each server's console is read from its create on; other resources are not servers, and
    a server only the wait after the apply knows (replaced on a retry) is read there."""
    from scs_testbed.polling import poll

    booted = (GOLDEN / "console_manager.log").read_text()
    compute = FakeCompute({"m": ["[ 1.0] booting\n", booted], "n": [booted], "r": [booted]})
    monkeypatch.setattr(
        console, "open_cloud", lambda _name, quiet=False: SimpleNamespace(compute=compute)
    )
    early = console.EarlyHostKeys("c", pauses=(0.01,))
    early.terraform_event(created("openstack_blockstorage_volume_v3", "v"))
    early.terraform_event(created("openstack_compute_instance_v2", "m"))
    early.terraform_event(created("openstack_compute_instance_v2", "n", action="delete"))
    assert poll(lambda: "m" in early.found or None, 10) is True
    known = early.stop()
    assert set(known) == {"m"}
    assert {server for server, _ in compute.calls} == {"m"}  # never the volume nor a delete
    compute.calls.clear()
    keys = console.wait_for_host_keys(
        lambda: SimpleNamespace(compute=compute),
        {"manager": "m", "node-0": "r"},
        5,
        (0,),
        known=known,
    )
    assert keys["manager"] == known["m"]
    assert {server for server, _ in compute.calls} == {"r"}  # the manager not asked again

    def no_cloud() -> None:
        raise AssertionError("connected although every server's keys were known")

    both = {**known, "r": keys["node-0"]}
    assert console.wait_for_host_keys(no_cloud, {"manager": "m", "node-0": "r"}, 5, known=both) == {
        "manager": known["m"],
        "node-0": keys["node-0"],
    }


def test_early_host_keys_start_nothing_without_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cloud(name: str, quiet: bool = False) -> None:
        raise AssertionError(f"cloud {name!r} opened without a server to read")

    monkeypatch.setattr(console, "open_cloud", no_cloud)
    early = console.EarlyHostKeys("c")
    early.terraform_event({"type": "apply_start", "hook": {}})
    assert early.stop() == {}
