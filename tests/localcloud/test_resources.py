"""Servers, ports, volumes and floating IPs through openstacksdk, as the testbed project."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.localcloud.conftest import LocalCloud


@dataclass
class Topology:
    networks: list[Any]
    subnets: list[Any]
    router: Any
    security_group: Any
    prefix: str


@pytest.fixture(scope="module")
def topology(cloud: LocalCloud) -> Iterator[Topology]:
    """Two networks behind a router with a gateway to `public`, like a testbed's."""
    conn = cloud.project
    prefix = f"lc-{uuid.uuid4().hex[:6]}"
    public = conn.network.find_network("public")
    networks, subnets = [], []
    router = conn.network.create_router(
        name=f"{prefix}-router", external_gateway_info={"network_id": public.id}
    )
    security_group = conn.network.create_security_group(name=f"{prefix}-sg")
    conn.network.create_security_group_rule(
        security_group_id=security_group.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
        ethertype="IPv4",
    )
    try:
        for index in (1, 2):
            net = conn.network.create_network(name=f"{prefix}-net{index}")
            networks.append(net)
            subnet = conn.network.create_subnet(
                network_id=net.id,
                name=f"{prefix}-subnet{index}",
                ip_version=4,
                cidr=f"192.168.{16 * index}.0/20",
            )
            subnets.append(subnet)
            conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        yield Topology(networks, subnets, router, security_group, prefix)
    finally:
        _cleanup(conn, prefix, router, subnets, networks, security_group)


def _cleanup(
    conn: Any,
    prefix: str,
    router: Any,
    subnets: list[Any],
    networks: list[Any],
    security_group: Any,
) -> None:
    """Delete what the module created, in dependency order; every step runs even if one fails."""

    def servers() -> None:
        for server in conn.compute.servers(name=f"^{prefix}"):
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=120)

    def floating_ips() -> None:
        for fip in conn.network.ips(description=prefix):
            conn.network.delete_ip(fip)

    def volumes() -> None:
        for volume in conn.block_storage.volumes(name=f"{prefix}-vol"):
            conn.block_storage.wait_for_status(volume, "available", failures=["error"], wait=120)
            conn.block_storage.delete_volume(volume)
            conn.block_storage.wait_for_delete(volume, wait=120)

    def router_and_networks() -> None:
        for subnet in subnets:
            conn.network.remove_interface_from_router(router, subnet_id=subnet.id)
        for port in conn.network.ports(project_id=conn.current_project_id):
            if port.name.startswith(prefix):
                conn.network.delete_port(port)
        conn.network.delete_router(router)
        for net in networks:
            conn.network.delete_network(net)
        conn.network.delete_security_group(security_group)

    failures = []
    for step in (servers, floating_ips, volumes, router_and_networks):
        try:
            step()
        except Exception as error:  # report all, not only the first
            failures.append(f"{step.__name__}: {error}")
    assert not failures, failures


def _ports(conn: Any, topo: Topology, name: str) -> list[Any]:
    return [
        conn.network.create_port(
            network_id=net.id,
            name=f"{topo.prefix}-{name}-p{index}",
            fixed_ips=[{"subnet_id": subnet.id, "ip_address": f"192.168.{16 * index}.5"}]
            if name == "mgr"
            else [{"subnet_id": subnet.id}],
            security_group_ids=[topo.security_group.id],
        )
        for index, (net, subnet) in enumerate(
            zip(topo.networks, topo.subnets, strict=True), start=1
        )
    ]


def _boot(conn: Any, topo: Topology, name: str) -> tuple[Any, list[Any]]:
    ports = _ports(conn, topo, name)
    flavor = conn.compute.find_flavor("SCS-4V-16-50")
    image = conn.image.find_image("Ubuntu 24.04")
    server = conn.compute.create_server(
        name=f"{topo.prefix}-{name}",
        flavor_id=flavor.id,
        image_id=image.id,
        networks=[{"port": p.id} for p in ports],
    )
    return conn.compute.wait_for_server(server, wait=180), ports


def test_server_on_two_ports_reaches_active_then_is_deleted(
    cloud: LocalCloud, topology: Topology
) -> None:
    conn = cloud.project
    server, ports = _boot(conn, topology, "mgr")
    assert server.status == "ACTIVE"
    addresses = {a["addr"] for nets in server.addresses.values() for a in nets}
    assert {"192.168.16.5", "192.168.32.5"} <= addresses
    for port in ports:
        port = cloud.admin.network.get_port(port.id)  # binding details are admin-only
        assert port.device_id == server.id
        assert port.status == "ACTIVE" and port.binding_vif_type == "ovs"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=120)
    assert conn.compute.find_server(server.id) is None


def test_volume_attach_and_detach(cloud: LocalCloud, topology: Topology) -> None:
    conn = cloud.project
    server, _ = _boot(conn, topology, "node")
    volume = conn.block_storage.create_volume(
        name=f"{topology.prefix}-vol", size=10, volume_type="ssd"
    )
    volume = conn.block_storage.wait_for_status(volume, "available", failures=["error"], wait=120)
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    volume = conn.block_storage.wait_for_status(
        volume, "in-use", failures=["error", "error_attaching"], wait=120
    )
    assert [a["server_id"] for a in volume.attachments] == [server.id]
    conn.compute.delete_volume_attachment(server, volume.id)
    conn.block_storage.wait_for_status(volume, "available", failures=["error"], wait=120)


def test_floating_ip_on_a_port(cloud: LocalCloud, topology: Topology) -> None:
    conn = cloud.project
    public = conn.network.find_network("public")
    port = conn.network.create_port(
        network_id=topology.networks[0].id, name=f"{topology.prefix}-fip-port"
    )
    fip = conn.network.create_ip(
        floating_network_id=public.id, port_id=port.id, description=topology.prefix
    )
    assert fip.floating_ip_address.startswith("172.24.4.")
    assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    # no L3 agent: the floating IP stays DOWN, which Terraform's provider accepts
    assert conn.network.get_ip(fip.id).status in ("DOWN", "ACTIVE")
