"""The testbed's OpenStack API: catalog, compute services, hypervisors, network agents,
volume services, and the resources a user needs (public network, image, flavor, volume type)."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.quick, pytest.mark.api]


def test_catalog_services(cloud: Any, smoke: SmokeConfig) -> None:
    types = [entry.get("type") for entry in cloud.service_catalog]
    problems = findings.catalog_problems(types, smoke.expected("catalog"))
    assert not problems, "\n".join(problems)


def test_compute_services(cloud: Any) -> None:
    services = [
        {"binary": s.binary, "host": s.host, "status": s.status, "state": s.state}
        for s in cloud.compute.services()
    ]
    problems = findings.service_problems("compute", services)
    assert not problems, "\n".join(problems)


def test_hypervisors(cloud: Any, smoke: SmokeConfig) -> None:
    hypervisors = [
        {"name": h.name, "state": h.state, "status": h.status} for h in cloud.compute.hypervisors()
    ]
    problems = findings.hypervisor_problems(hypervisors, smoke.expected("hypervisors"))
    assert not problems, "\n".join(problems)


def test_network_agents(cloud: Any, smoke: SmokeConfig) -> None:
    agents = [
        {"binary": a.binary, "host": a.host, "alive": a.is_alive, "admin_up": a.is_admin_state_up}
        for a in cloud.network.agents()
    ]
    problems = findings.agent_problems(agents, smoke.expected("min_network_agents"))
    assert not problems, "\n".join(problems)


def test_volume_services(cloud: Any) -> None:
    services = [
        {"binary": s.binary, "host": s.host, "status": s.status, "state": s.state}
        for s in cloud.block_storage.services()
    ]
    problems = findings.service_problems("volume", services)
    assert not problems, "\n".join(problems)


def test_user_resources_exist(cloud: Any, smoke: SmokeConfig) -> None:
    problems = []
    wanted = [
        ("network", cloud.network.find_network, smoke.expected("public_network")),
        ("image", cloud.image.find_image, smoke.expected("image")),
        ("flavor", cloud.compute.find_flavor, smoke.expected("flavor")),
    ]
    if smoke.expected("volume_type"):
        wanted.append(("volume type", cloud.block_storage.find_type, smoke.expected("volume_type")))
    for kind, finder, name in wanted:
        if finder(name, ignore_missing=True) is None:
            problems.append(f"{kind} {name!r} not found (expected it to exist)")
    public = cloud.network.find_network(smoke.expected("public_network"), ignore_missing=True)
    if public is not None and not public.is_router_external:
        problems.append(f"network {public.name!r} is not external (expected router:external)")
    assert not problems, "\n".join(problems)
