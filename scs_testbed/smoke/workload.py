"""The smoke workload: a prefixed network and router, a server (booted from a volume), an
attached volume and a floating IP — built step by step, and always torn down.

Every resource is recorded in `Created` the moment it exists, and `tear_down` removes exactly
those, by ID, in reverse order: nothing that this run did not create is ever touched. After the
teardown, `leftovers` looks for the run's exact names once more, so a resource that survived
(or one the cloud created on our behalf, like a boot volume) is reported, not silently kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scs_testbed.polling import poll

SUBNET_CIDR = "192.168.250.0/24"  # inside the workload's own network only
TEARDOWN_TIMEOUT = 600.0  # removal gets its own limit: a short build limit must not cut it


@dataclass(frozen=True)
class WorkloadSpec:
    prefix: str
    image: str
    flavor: str
    public_network: str
    volume_type: str = ""
    boot_from_volume: bool = True
    timeout: float = 600.0

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"


@dataclass
class Created:
    """IDs of what the run created, by kind, in creation order."""

    network: str | None = None
    subnet: str | None = None
    router: str | None = None
    router_interface: bool = False
    server: str | None = None
    volume: str | None = None
    attached: bool = False
    floating_ip: str | None = None
    floating_address: str | None = None
    steps: list[str] = field(default_factory=list)


class WorkloadFailed(AssertionError):
    """A step of the workload did not reach its goal (the message says found / expected)."""


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """Poll `probe` until it returns something true; WorkloadFailed after `timeout`."""
    last: list[Any] = [None]

    def ask() -> Any:
        last[0] = probe()
        if isinstance(last[0], str) and last[0].startswith("ERROR"):
            raise WorkloadFailed(f"{what}: {last[0]}")
        return last[0] if last[0] and not isinstance(last[0], str) else None

    reached = poll(ask, timeout, pauses=(interval,))
    if reached is None:
        raise WorkloadFailed(f"{what}: not reached after {timeout:.0f} s (last: {last[0]})")
    return reached


def _find(kind: str, finder: Callable[..., Any], name: str, hint: str) -> Any:
    found = finder(name, ignore_missing=True)
    if found is None:
        raise WorkloadFailed(f"{kind} {name!r} not found (expected it to exist; {hint})")
    return found


def build(conn: Any, spec: WorkloadSpec, created: Created) -> Created:
    """Create the workload, recording each resource in `created` as soon as it exists."""
    image = _find("image", conn.image.find_image, spec.image, "--expect image=NAME")
    flavor = _find("flavor", conn.compute.find_flavor, spec.flavor, "--expect flavor=NAME")
    public = _find(
        "network", conn.network.find_network, spec.public_network, "--expect public_network=NAME"
    )
    network = conn.network.create_network(name=spec.name("net"))
    created.network = network.id
    subnet = conn.network.create_subnet(
        name=spec.name("subnet"), network_id=network.id, ip_version=4, cidr=SUBNET_CIDR
    )
    created.subnet = subnet.id
    router = conn.network.create_router(
        name=spec.name("router"), external_gateway_info={"network_id": public.id}
    )
    created.router = router.id
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    created.router_interface = True
    created.steps.append("network")

    volume_args = {"volume_type": spec.volume_type} if spec.volume_type else {}
    server_args: dict[str, Any] = {
        "name": spec.name("server"),
        "flavor_id": flavor.id,
        "networks": [{"uuid": network.id}],
    }
    if spec.boot_from_volume:
        size = max(1, int(getattr(image, "min_disk", 0) or 0), -(-int(image.size or 0) // 2**30))
        server_args["block_device_mapping"] = [
            {
                "boot_index": 0,
                "uuid": image.id,
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": size,
                "delete_on_termination": True,
                **volume_args,
            }
        ]
    else:
        server_args["image_id"] = image.id
    server = conn.compute.create_server(**server_args)
    created.server = server.id
    try:
        volume = conn.block_storage.create_volume(name=spec.name("volume"), size=1, **volume_args)
    except Exception as error:  # e.g. an unknown volume type: say what was asked for
        raise WorkloadFailed(
            f"volume {spec.name('volume')} (1 GB, type {spec.volume_type or 'default'}) could "
            f"not be created: {type(error).__name__}: {error} (expected it to be created)"
        ) from error
    created.volume = volume.id

    def server_state() -> Any:
        found = conn.compute.get_server(server.id)
        if found.status == "ERROR":
            fault = (found.fault or {}).get("message", "")
            return f"ERROR: server {spec.name('server')} went to ERROR {fault} (expected ACTIVE)"
        return found if found.status == "ACTIVE" else f"server status {found.status}"

    wait_for("server ACTIVE", server_state, spec.timeout)
    created.steps.append("server")

    def volume_state(status: str) -> Any:
        found = conn.block_storage.get_volume(volume.id)
        if found.status == "error":
            return f"ERROR: volume {spec.name('volume')} went to error (expected {status})"
        return found if found.status == status else f"volume status {found.status}"

    wait_for("volume available", lambda: volume_state("available"), spec.timeout)
    conn.compute.create_volume_attachment(server.id, volume_id=volume.id)
    created.attached = True
    wait_for("volume attached (in-use)", lambda: volume_state("in-use"), spec.timeout)
    created.steps.append("volume")

    ports = list(conn.network.ports(device_id=server.id))
    if not ports:
        raise WorkloadFailed(f"server {spec.name('server')} has no port (expected one)")
    fip = conn.network.create_ip(
        floating_network_id=public.id, port_id=ports[0].id, description=spec.name("fip")
    )
    created.floating_ip, created.floating_address = fip.id, fip.floating_ip_address
    wait_for(
        "floating IP bound to the server's port",
        lambda: conn.network.get_ip(fip.id).port_id == ports[0].id or "unbound",
        spec.timeout,
    )
    created.steps.append("floating-ip")
    return created


def _quietly(problems: list[str], what: str, action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception as error:  # teardown goes on; what failed is reported at the end
        problems.append(f"{what}: {type(error).__name__}: {error}")


def tear_down(conn: Any, spec: WorkloadSpec, created: Created) -> list[str]:
    """Remove what `created` records (reverse order, by ID); return what went wrong."""
    problems: list[str] = []
    net = conn.network
    if created.floating_ip:
        _quietly(problems, "floating IP", lambda: net.delete_ip(created.floating_ip))
    if created.server:
        server = created.server

        def gone() -> Any:
            found = conn.compute.find_server(server, ignore_missing=True)
            return True if found is None else f"server status {found.status}"

        _quietly(problems, "server", lambda: conn.compute.delete_server(server))
        _quietly(
            problems, "server deletion", lambda: wait_for("server gone", gone, TEARDOWN_TIMEOUT)
        )
    if created.volume:
        volume = created.volume

        def volume_gone() -> Any:
            found = conn.block_storage.find_volume(volume, ignore_missing=True)
            if found is None:
                return True
            if found.status in ("available", "error"):  # detached (or failed): delete now
                conn.block_storage.delete_volume(volume, ignore_missing=True)
            return f"volume status {found.status}"

        _quietly(problems, "volume", lambda: wait_for("volume gone", volume_gone, TEARDOWN_TIMEOUT))
    if created.router and created.router_interface and created.subnet:
        router, subnet = created.router, created.subnet
        _quietly(
            problems,
            "router interface",
            lambda: net.remove_interface_from_router(router, subnet_id=subnet),
        )
    if created.router:
        _quietly(problems, "router", lambda: net.delete_router(created.router))
    if created.subnet:
        _quietly(problems, "subnet", lambda: net.delete_subnet(created.subnet))
    if created.network:
        _quietly(problems, "network", lambda: net.delete_network(created.network))
    return problems


def leftovers(conn: Any, spec: WorkloadSpec) -> list[str]:
    """Anything still carrying the workload's names (by exact name, never by pattern)."""
    names = {spec.name(w) for w in ("net", "subnet", "router", "server", "volume", "fip")}
    found = [f"server {s.name}" for s in conn.compute.servers() if s.name in names]
    found += [f"volume {v.name}" for v in conn.block_storage.volumes() if v.name in names]
    found += [f"router {r.name}" for r in conn.network.routers() if r.name in names]
    found += [f"network {n.name}" for n in conn.network.networks() if n.name in names]
    found += [
        f"floating IP {ip.floating_ip_address}"
        for ip in conn.network.ips()
        if ip.description == spec.name("fip")
    ]
    return found
