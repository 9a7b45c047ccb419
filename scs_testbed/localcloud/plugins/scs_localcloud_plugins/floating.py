"""Floating IPs of booted servers, made real on the host when neutron (dis)associates them.

Neutron owns floating IPs; nothing in the local cloud runs an L3 agent. This module subscribes
to neutron's floating IP events (created, updated, deleted, also the disassociation when a
port goes) and tells the host layer (nspawn.Host) to route the floating IP into the fixed
port's network namespace and DNAT it there. Active only when `[scs_nspawn] state_dir` is set,
i.e. when the cloud boots its servers.
"""

from __future__ import annotations

import logging
from typing import Any

from neutron_lib.callbacks import events, registry, resources
from neutron_lib.plugins import directory
from oslo_config import cfg

from scs_localcloud_plugins import nspawn

OPTS = [cfg.StrOpt("state_dir", help="Where the host layer keeps servers and networks.")]
cfg.CONF.register_opts(OPTS, group="scs_nspawn")
LOG = logging.getLogger(__name__)
EVENTS = (events.AFTER_CREATE, events.AFTER_UPDATE, events.AFTER_DELETE)


def subscribe() -> bool:
    """Listen to floating IP events when the cloud boots servers; True if it does."""
    if not cfg.CONF.scs_nspawn.state_dir:
        return False
    for event in EVENTS:
        registry.subscribe(on_floating_ip, resources.FLOATING_IP, event)
    return True


def host() -> nspawn.Host:
    # The root filesystem plays no part in floating IPs.
    return nspawn.Host(cfg.CONF.scs_nspawn.state_dir, "/nonexistent")


Additions = list[dict[str, str]]


def changes(event: str, states: tuple[dict[str, Any], ...]) -> tuple[list[str], Additions]:
    """Which floating IPs to remove and which (floating, fixed, port) to add, from the states.

    An update carries (old, new); create and delete carry one state.
    """
    old = states[0] if event != events.AFTER_CREATE else {}
    new = states[-1] if event != events.AFTER_DELETE else {}
    remove: list[str] = []
    add: list[dict[str, str]] = []
    moved = (old.get("port_id"), old.get("fixed_ip_address")) != (
        new.get("port_id"),
        new.get("fixed_ip_address"),
    )
    if old.get("port_id") and old.get("floating_ip_address") and moved:
        remove.append(str(old["floating_ip_address"]))
    if new.get("port_id") and new.get("fixed_ip_address"):
        add.append(
            {
                "floating": str(new["floating_ip_address"]),
                "fixed": str(new["fixed_ip_address"]),
                "port_id": new["port_id"],
            }
        )
    return remove, add


def network_of(context: Any, port_id: str, fixed: str) -> nspawn.Network:
    """The host layer's view of the network the fixed IP lives on (id, CIDR, gateway)."""
    plugin = directory.get_plugin()
    admin = context.elevated()
    port = plugin.get_port(admin, port_id)
    subnet_id = next(ip["subnet_id"] for ip in port["fixed_ips"] if ip["ip_address"] == fixed)
    subnet = plugin.get_subnet(admin, subnet_id)
    return nspawn.Network(port["network_id"], subnet["cidr"], subnet["gateway_ip"])


def on_floating_ip(resource: str, event: str, trigger: Any, payload: Any) -> None:
    """Neutron callback: mirror the (dis)association on the host. Never fails the API call."""
    try:
        remove, add = changes(event, tuple(payload.states))
        if not remove and not add:
            return
        layer = host()
        for floating in remove:
            network = _known_network(layer, floating)
            if network is not None:
                layer.remove_floating_ip(network, floating)
        for item in add:
            network = network_of(payload.context, item["port_id"], item["fixed"])
            layer.add_floating_ip(network, item["floating"], item["fixed"])
    except Exception:  # an API call must not fail because the host could not follow
        LOG.exception("mirroring floating IP %s on the host failed", event)


def _known_network(layer: nspawn.Host, floating: str) -> nspawn.Network | None:
    """The network whose record holds `floating` (its port may be gone by now)."""
    for network, record in layer.network_records():
        if floating in record.get("floating", {}):
            return network
    return None
