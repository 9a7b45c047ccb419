"""The nova driver's glue, run in the local cloud's venv (where nova lives): VIFs -> ports."""

from __future__ import annotations

import subprocess

import pytest

from scs_testbed.localcloud import Layout
from scs_testbed.localcloud.install import plugins_dir

SCRIPT = """
from nova.network import model
from nova.virt import fake
from scs_localcloud_plugins import nspawn_driver as d
gateway = model.IP(address="192.168.16.1", type="gateway")
subnet = model.Subnet(cidr="192.168.16.0/20", version=4, gateway=gateway,
                      ips=[model.FixedIP(address="192.168.16.5")])
vif = model.VIF(id="port-1", address="fa:16:3e:00:00:05",
                network=model.Network(id="net-1", subnets=[subnet]))
(port,) = d.ports_of(model.NetworkInfo([vif]))
assert (port.id, port.mac, port.address) == ("port-1", "fa:16:3e:00:00:05", "192.168.16.5")
assert (port.network.id, port.network.cidr, port.network.gateway) == (
    "net-1", "192.168.16.0/20", "192.168.16.1")
assert issubclass(d.NspawnDriver, fake.FakeDriverWithoutFakeNodes)
data = {"links": [{"id": "tap1", "vif_id": "port-1", "ethernet_mac_address": "fa:16:3e:00:00:05"}],
        "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "tap1",
                      "network_id": "net-1"}],
        "services": [{"type": "dns", "address": "192.0.2.53"}]}
static = d.static_network_data(data, (port,))
assert static["networks"] == [{"id": "network0", "type": "ipv4", "link": "tap1",
    "network_id": "net-1", "ip_address": "192.168.16.5", "netmask": "255.255.240.0",
    "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.168.16.1"}]}]
assert static["links"] == data["links"] and static["services"] == data["services"]
print("ok")
"""


def test_ports_from_nova_network_info() -> None:
    python = Layout.default().python
    if not python.exists():
        pytest.skip(f"no local cloud venv at {python} (scs-testbed localcloud up installs it)")
    done = subprocess.run(
        [str(python), "-c", SCRIPT],
        env={"PYTHONPATH": str(plugins_dir()), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


FLOATING = """
from neutron_lib.callbacks import events
from scs_localcloud_plugins import floating as f
fip = {"floating_ip_address": "172.24.4.20", "port_id": None, "fixed_ip_address": None}
bound = dict(fip, port_id="p1", fixed_ip_address="192.168.16.5")
moved = dict(fip, port_id="p2", fixed_ip_address="192.168.16.11")
add = {"floating": "172.24.4.20", "fixed": "192.168.16.5", "port_id": "p1"}
assert f.changes(events.AFTER_CREATE, (fip,)) == ([], [])
assert f.changes(events.AFTER_CREATE, (bound,)) == ([], [add])
assert f.changes(events.AFTER_UPDATE, (fip, bound)) == ([], [add])
assert f.changes(events.AFTER_UPDATE, (bound, bound)) == ([], [add])  # re-applied, idempotent
assert f.changes(events.AFTER_UPDATE, (bound, fip)) == (["172.24.4.20"], [])
assert f.changes(events.AFTER_UPDATE, (bound, moved))[0] == ["172.24.4.20"]
assert f.changes(events.AFTER_DELETE, (bound,)) == (["172.24.4.20"], [])
assert f.subscribe() is False  # no [scs_nspawn] state_dir: the fake driver's cloud
print("ok")
"""


def test_floating_ip_events_to_host_changes() -> None:
    python = Layout.default().python
    if not python.exists():
        pytest.skip(f"no local cloud venv at {python} (scs-testbed localcloud up installs it)")
    done = subprocess.run(
        [str(python), "-c", FLOATING],
        env={"PYTHONPATH": str(plugins_dir()), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
