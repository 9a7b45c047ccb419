"""The local cloud answers like a real OpenStack: tokens, catalog, what a testbed needs."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.localcloud.conftest import LocalCloud

SCS_FLAVORS = ("SCS-4V-8", "SCS-4V-16", "SCS-8V-32", "SCS-4V-16-50", "SCS-8V-32-50")


def test_token_for_the_testbed_project(cloud: LocalCloud) -> None:
    token = cloud.project.auth_token
    assert token and len(token) > 20
    project = cloud.admin.identity.find_project("testbed", domain_id="default")
    assert cloud.project.current_project_id == project.id == cloud.project_id


def test_catalog_has_every_service_on_loopback(cloud: LocalCloud) -> None:
    services = {s.id: s.type for s in cloud.admin.identity.services()}
    expected = {"identity", "image", "placement", "compute", "network", "volumev3", "block-storage"}
    assert expected <= set(services.values())
    for endpoint in cloud.admin.identity.endpoints():
        assert urlparse(endpoint.url).hostname == "127.0.0.1", endpoint.url


def test_what_a_testbed_needs_is_there(cloud: LocalCloud) -> None:
    conn = cloud.project
    flavors = {f.name: f for f in conn.compute.flavors()}
    for name in SCS_FLAVORS:
        assert name in flavors, name
    assert (flavors["SCS-8V-32-50"].vcpus, flavors["SCS-8V-32-50"].ram) == (8, 32768)
    assert flavors["SCS-8V-32-50"].disk == 50
    image = conn.image.find_image("Ubuntu 24.04")
    assert image is not None and image.status == "active"
    public = conn.network.find_network("public")
    assert public is not None and public.is_router_external
    assert list(conn.network.subnets(network_id=public.id))
    assert conn.block_storage.find_type("ssd") is not None
    zones = {z.name for z in conn.compute.availability_zones()}
    assert "nova" in zones
    volume_zones = {z.name for z in conn.block_storage.availability_zones()}
    assert "nova" in volume_zones
