"""A nova virt driver that boots every server as a systemd-nspawn container (nspawn.Host).

nova.conf: `compute_driver = scs_localcloud_plugins.nspawn_driver.NspawnDriver` and
`[scs_nspawn] state_dir`, `rootfs` (the image built by scs_testbed.localcloud.image).
The fake driver keeps nova's bookkeeping (resources, instance list); this class adds the real
container: the config drive built by nova's own metadata code, the port's MAC and fixed IP,
the console. `localcloud up` selects it (`--driver nspawn`, the default); floating IPs are
neutron's business and reach the host through scs_localcloud_plugins.floating. A guest that
reboots itself makes nspawn exit; a background thread boots it again.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from typing import Any

from nova.api.metadata import base as instance_metadata
from nova.compute import power_state
from nova.virt import fake
from oslo_config import cfg

from scs_localcloud_plugins import nspawn

OPTS = [
    cfg.StrOpt("state_dir", help="Where the host layer keeps servers and networks."),
    cfg.StrOpt("rootfs", help="The shared root filesystem every server's overlay sits on."),
    cfg.IntOpt("stop_timeout", default=30, help="Seconds a clean power-off may take."),
    cfg.FloatOpt(
        "supervise_interval", default=1.0, help="Seconds between checks for guest reboots."
    ),
]
LOG = logging.getLogger(__name__)
ANY = str(ipaddress.IPv4Address(0))  # the default route's network and netmask
CONF = cfg.CONF
# What nova reports as this compute node's hypervisor_type (the fake driver says "fake"):
# clients ask the running cloud whether its servers boot (scs_testbed.localcloud.configs).
HYPERVISOR_TYPE = "nspawn"
CONF.register_opts(OPTS, group="scs_nspawn")


def ports_of(network_info: Any) -> tuple[nspawn.Port, ...]:
    """nova's network_info (VIFs) as the host layer's ports: MAC, first fixed IPv4, network."""
    ports = []
    for vif in network_info or []:
        subnet = next(s for s in vif["network"]["subnets"] if s["version"] == 4)
        network = nspawn.Network(
            vif["network"]["id"], str(subnet["cidr"]), str(subnet["gateway"]["address"])
        )
        ports.append(
            nspawn.Port(vif["id"], vif["address"], str(subnet["ips"][0]["address"]), network)
        )
    return tuple(ports)


def static_network_data(data: dict[str, Any], ports: tuple[nspawn.Port, ...]) -> dict[str, Any]:
    """network_data.json with DHCP networks made static (the local cloud has no DHCP agent).

    nova says `ipv4_dhcp` for subnets with DHCP enabled; a cloud's DHCP agent would then hand
    out the port's fixed IP. Here the same address, netmask and default route are written
    into the entry, as nova does for subnets without DHCP.
    """
    by_vif = {link["id"]: link.get("vif_id") for link in data.get("links", [])}
    by_port = {port.id: port for port in ports}
    networks = []
    for network in data.get("networks", []):
        port = by_port.get(by_vif.get(network.get("link"), ""))
        if network.get("type") == "ipv4_dhcp" and port is not None:
            net = ipaddress.ip_network(port.network.cidr)
            network = {
                **network,
                "type": "ipv4",
                "ip_address": port.address,
                "netmask": str(net.netmask),
                "routes": [{"network": ANY, "netmask": ANY, "gateway": port.network.gateway}],
            }
        networks.append(network)
    return {**data, "networks": networks}


def config_drive(instance: Any, injected_files: Any, network_info: Any) -> dict[str, bytes]:
    """What nova would put on the config drive for this instance, path -> bytes
    (network_data.json static where nova says DHCP, see static_network_data)."""
    metadata = instance_metadata.InstanceMetadata(
        instance, content=injected_files, network_info=network_info
    )
    ports = ports_of(network_info)
    drive = {}
    for path, value in metadata.metadata_for_config_drive():
        content = value if isinstance(value, bytes) else str(value).encode()
        if path.endswith("/network_data.json"):
            data = static_network_data(json.loads(content), ports)
            content = json.dumps(data).encode()
        drive[path] = content
    return drive


class NspawnDriver(fake.FakeDriverWithoutFakeNodes):
    """The fake driver's bookkeeping plus a real container per server.

    The base keeps a stable node identity, so nova-compute can be restarted.
    """

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        self.host = nspawn.Host(CONF.scs_nspawn.state_dir, CONF.scs_nspawn.rootfs)
        self._supervisor: threading.Thread | None = None

    def init_host(self, host: str) -> None:
        super().init_host(host)
        if self._supervisor is None:
            self._supervisor = threading.Thread(
                target=self._supervise, name="scs-nspawn-supervisor", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        """Boot again what the guest rebooted (systemd-nspawn exits on a guest reboot)."""
        while True:
            time.sleep(CONF.scs_nspawn.supervise_interval)
            try:
                for uuid in self.host.restart_rebooted():
                    LOG.info("server %s rebooted itself; booted it again", uuid)
            except Exception:  # keep supervising; the next round retries
                LOG.exception("restarting a rebooted server failed")

    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):  # fmt: skip
        super().spawn(
            context, instance, image_meta, injected_files, admin_password, allocations,
            network_info, block_device_info, power_on, accel_info,
        )  # fmt: skip
        drive = config_drive(instance, injected_files, network_info)
        self.host.create(nspawn.Server(instance.uuid, ports_of(network_info), drive))
        if power_on:
            self.host.start(instance.uuid)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):  # fmt: skip
        self.host.delete(instance.uuid, CONF.scs_nspawn.stop_timeout)
        super().destroy(
            context, instance, network_info, block_device_info, destroy_disks, destroy_secrets
        )

    def reboot(self, context, instance, network_info, reboot_type, *args, **kwargs):
        self.host.reboot(instance.uuid, CONF.scs_nspawn.stop_timeout)
        super().reboot(context, instance, network_info, reboot_type, *args, **kwargs)

    def power_off(self, instance, timeout=0, retry_interval=0):
        self.host.stop(instance.uuid, timeout or CONF.scs_nspawn.stop_timeout)
        super().power_off(instance, timeout, retry_interval)

    def power_on(self, context, instance, network_info, *args, **kwargs):
        self.host.start(instance.uuid)
        super().power_on(context, instance, network_info, *args, **kwargs)

    def get_info(self, instance, use_cache=True):
        info = super().get_info(instance, use_cache)
        running = self.host.is_running(instance.uuid)
        info.state = power_state.RUNNING if running else power_state.SHUTDOWN
        return info

    def get_available_resource(self, nodename):
        resources = super().get_available_resource(nodename)
        resources["hypervisor_type"] = HYPERVISOR_TYPE
        return resources

    def get_console_output(self, context, instance):
        return self.host.console_output(instance.uuid)
