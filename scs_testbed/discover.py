"""Find (and remove) the cloud resources of one testbed by the names the module gives them.

Names are matched exactly (`<prefix>-manager`, `<prefix>-node-3-data-1`, ...), never by a bare
prefix: testbeds `tb` and `tb-2` can share a project without one touching the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_testbed.cloud import Deadline, cloud_calls, gather
from scs_testbed.polling import poll
from scs_testbed.requirements import security_data

if TYPE_CHECKING:
    from openstack.connection import Connection

# Resource names the module creates, after "<prefix>-". Kept beside the module's naming;
# tests check both against a real deploy.
NAME_PATTERNS: dict[str, tuple[str, ...]] = {
    "server": ("manager", r"node-\d+"),
    "volume": (r"node-\d+-data-\d+",),
    "floating_ip": ("manager",),  # matched on the description
    "router": ("router",),
    "port": ("manager", r"node-\d+"),
    "subnet": ("management",),
    "network": ("management",),
    "security_group": (),  # filled from security_groups.json
    "keypair": ("key",),
}
# The service that lists each kind (named when a listing runs out of time).
KIND_SERVICE = {
    "server": "compute",
    "volume": "block-storage",
    "floating_ip": "network",
    "router": "network",
    "port": "network",
    "subnet": "network",
    "network": "network",
    "security_group": "network",
    "keypair": "compute",
}
# Deletion order: what depends on something goes before it.
DELETE_ORDER = (
    "server",
    "floating_ip",
    "volume",
    "router",
    "port",
    "subnet",
    "network",
    "security_group",
    "keypair",
)


@dataclass(frozen=True)
class Found:
    kind: str
    id: str
    name: str


def name_pattern(kind: str, prefix: str) -> re.Pattern[str]:
    names = NAME_PATTERNS[kind] or tuple(re.escape(g) for g in security_data()["groups"])
    return re.compile(rf"^{re.escape(prefix)}-(?:{'|'.join(names)})$")


def _listers(conn: Connection) -> dict[str, Callable[[], Iterable[Any]]]:
    return {
        "server": lambda: conn.compute.servers(),
        "volume": lambda: conn.block_storage.volumes(),
        "floating_ip": lambda: conn.network.ips(project_id=conn.current_project_id),
        "router": lambda: conn.network.routers(project_id=conn.current_project_id),
        "port": lambda: conn.network.ports(project_id=conn.current_project_id),
        "subnet": lambda: conn.network.subnets(project_id=conn.current_project_id),
        "network": lambda: conn.network.networks(project_id=conn.current_project_id),
        "security_group": lambda: conn.network.security_groups(project_id=conn.current_project_id),
        "keypair": lambda: conn.compute.keypairs(),
    }


def _matching(kind: str, prefix: str, resources: Iterable[Any]) -> list[Found]:
    """The resources whose name (a floating IP's description) is one of the testbed's."""
    pattern = name_pattern(kind, prefix)
    found = []
    for resource in resources:
        label = _label(kind, resource)
        if pattern.match(label):
            ident = resource.name if kind == "keypair" else resource.id
            display = label if kind != "floating_ip" else f"{resource.floating_ip_address}"
            found.append(Found(kind, str(ident), display))
    return found


def _label(kind: str, resource: Any) -> str:
    if kind == "floating_ip":
        return str(getattr(resource, "description", "") or "")
    return str(getattr(resource, "name", "") or "")


def find_resources(conn: Connection, prefix: str, deadline: Deadline | None = None) -> list[Found]:
    """Every resource of the project that carries one of this testbed's names.

    With `deadline`, an InputError naming the services that did not answer when it passes.
    """
    listers = _listers(conn)

    def scan(kind: str) -> Callable[[], list[Found]]:
        return lambda: _matching(kind, prefix, listers[kind]())

    services = {kind: (KIND_SERVICE[kind],) for kind in DELETE_ORDER}
    with cloud_calls(conn):
        results = gather({kind: scan(kind) for kind in DELETE_ORDER}, deadline, None, services)
    return [item for kind in DELETE_ORDER for item in results[kind]]


def prefix_in_use(conn: Connection, prefix: str) -> list[Found]:
    """A quick look (server-side name filters) for resources a testbed with `prefix` creates.

    Cheaper than `find_resources` (five filtered reads instead of nine full listings); used by
    the preflight to tell whether another testbed or leftovers already use the names.
    """
    project = conn.current_project_id
    reads: dict[str, Callable[[], Iterable[Any]]] = {
        "server": lambda: conn.compute.servers(name=f"^{re.escape(prefix)}-"),
        "network": lambda: conn.network.networks(name=f"{prefix}-management", project_id=project),
        "router": lambda: conn.network.routers(name=f"{prefix}-router", project_id=project),
        "security_group": lambda: conn.network.security_groups(project_id=project),
        "keypair": lambda: [k for k in [conn.compute.find_keypair(f"{prefix}-key")] if k],
    }

    # runs inside the preflight's pool: no pool of its own
    return [
        item for kind in reads for item in _matching(kind, prefix, reads[kind]())
    ]  # runs inside the preflight's pool


def delete_resources(
    conn: Connection,
    prefix: str,
    on_delete: Callable[[Found], None] = lambda f: None,
    timeout: float = 600,
) -> list[Found]:
    """Delete what `find_resources` finds, in dependency order; return what is left."""
    with cloud_calls(conn):
        return _delete_found(conn, find_resources(conn, prefix), on_delete, timeout, prefix)


def untracked_resources(conn: Connection, prefix: str, tracked_ids: set[str]) -> list[Found]:
    """Resources with this testbed's exact names whose id the Terraform state does not hold.

    What a create leaves when the cloud carried it out but the client lost the answer (a reset
    connection, a timeout): Terraform does not know it and would create a second one.
    """
    found = find_resources(conn, prefix)
    untracked = [item for item in found if item.id not in tracked_ids]
    # an interface added although the answer was lost: a port of the testbed's router (no
    # name of its own) that no state holds; it keeps the subnet from being deleted
    with cloud_calls(conn):
        for router in (item for item in found if item.kind == "router"):
            for port in conn.network.ports(device_id=router.id):
                if port.device_owner == "network:router_interface" and port.id not in tracked_ids:
                    untracked.insert(
                        0, Found("router_interface", f"{router.id}/{port.id}", router.name)
                    )
    return untracked


def delete_found(
    conn: Connection,
    found: list[Found],
    on_delete: Callable[[Found], None] = lambda f: None,
    timeout: float = 600,
) -> None:
    """Delete these resources, in dependency order, waiting for servers and volumes to go."""
    with cloud_calls(conn):
        _delete_each(conn, found, on_delete, timeout)


def _delete_found(
    conn: Connection,
    found: list[Found],
    on_delete: Callable[[Found], None],
    timeout: float,
    prefix: str,
) -> list[Found]:
    _delete_each(conn, found, on_delete, timeout)
    return find_resources(conn, prefix)


def _delete_each(
    conn: Connection, found: list[Found], on_delete: Callable[[Found], None], timeout: float
) -> None:
    by_kind: dict[str, list[Found]] = {}
    for item in found:
        by_kind.setdefault(item.kind, []).append(item)
    for kind in ("router_interface", *DELETE_ORDER):
        for item in by_kind.get(kind, []):
            _delete(conn, item)
            on_delete(item)
        if kind == "server" and by_kind.get(kind):
            _wait_gone(conn, [i.id for i in by_kind[kind]], timeout)
        if kind == "volume" and by_kind.get(kind):
            _wait_volumes_gone(conn, [i.id for i in by_kind[kind]], timeout)


def _delete(conn: Connection, item: Found) -> None:
    from openstack import exceptions

    try:
        if item.kind == "router_interface":
            router_id, port_id = item.id.split("/", 1)
            conn.network.remove_interface_from_router(router_id, port=port_id)
        elif item.kind == "server":
            conn.compute.delete_server(item.id, ignore_missing=True, force=False)
        elif item.kind == "floating_ip":
            conn.network.delete_ip(item.id, ignore_missing=True)
        elif item.kind == "volume":
            _delete_volume(conn, item.id)
        elif item.kind == "router":
            _delete_router(conn, item.id)
        elif item.kind == "port":
            conn.network.delete_port(item.id, ignore_missing=True)
        elif item.kind == "subnet":
            conn.network.delete_subnet(item.id, ignore_missing=True)
        elif item.kind == "network":
            conn.network.delete_network(item.id, ignore_missing=True)
        elif item.kind == "security_group":
            conn.network.delete_security_group(item.id, ignore_missing=True)
        elif item.kind == "keypair":
            conn.compute.delete_keypair(item.id, ignore_missing=True)
    except exceptions.NotFoundException:
        pass


def _delete_volume(conn: Connection, volume_id: str) -> None:
    volume = conn.block_storage.find_volume(volume_id, ignore_missing=True)
    if volume is None:
        return
    if volume.status == "in-use":
        for attachment in volume.attachments or []:
            server = attachment.get("server_id")
            if server:
                conn.compute.delete_volume_attachment(server, volume_id, ignore_missing=True)
        _wait_until(lambda: _volume_status(conn, volume_id) in (None, "available", "error"), 120)
    elif volume.status not in ("available", "error", "error_deleting"):
        conn.block_storage.reset_volume_status(volume_id, "available", None, None)
    conn.block_storage.delete_volume(volume_id, ignore_missing=True)


def _volume_status(conn: Connection, volume_id: str) -> str | None:
    volume = conn.block_storage.find_volume(volume_id, ignore_missing=True)
    return None if volume is None else str(volume.status)


def _delete_router(conn: Connection, router_id: str) -> None:
    router = conn.network.find_router(router_id, ignore_missing=True)
    if router is None:
        return
    for port in conn.network.ports(device_id=router_id):
        if port.device_owner == "network:router_interface":
            for fixed in port.fixed_ips or []:
                conn.network.remove_interface_from_router(router, subnet=fixed["subnet_id"])
    if router.external_gateway_info:
        conn.network.update_router(router, external_gateway_info={})
    conn.network.delete_router(router, ignore_missing=True)


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    pauses = (0.2, 0.3, 0.45, 0.7, 1.0, 1.5, 2.3, 3.0)
    return poll(lambda: True if condition() else None, timeout, pauses) is not None


def _wait_gone(conn: Connection, server_ids: list[str], timeout: float) -> None:
    _wait_until(
        lambda: all(conn.compute.find_server(s, ignore_missing=True) is None for s in server_ids),
        timeout,
    )


def _wait_volumes_gone(conn: Connection, volume_ids: list[str], timeout: float) -> None:
    _wait_until(lambda: all(_volume_status(conn, v) is None for v in volume_ids), timeout)
