"""A workload: network, router, a server (from a volume), an attached volume, a floating IP
reachable from the manager. Always torn down; anything left is a failure of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scs_testbed.smoke import workload
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.workload, pytest.mark.api]


@pytest.fixture
def spec(smoke: SmokeConfig) -> workload.WorkloadSpec:
    return workload.WorkloadSpec(
        prefix=smoke.prefix,
        image=smoke.expected("image"),
        flavor=smoke.expected("flavor"),
        public_network=smoke.expected("public_network"),
        volume_type=smoke.expected("volume_type"),
        boot_from_volume=smoke.expected("boot_from_volume"),
        timeout=float(smoke.expected("workload_timeout")),
    )


@pytest.fixture
def built(cloud: Any, spec: workload.WorkloadSpec) -> Iterator[workload.Created]:
    """The workload, removed afterwards whatever happened (a failed teardown fails the test)."""
    created = workload.Created()
    try:
        yield workload.build(cloud, spec, created)
    finally:
        problems = workload.tear_down(cloud, spec, created)
        left = workload.leftovers(cloud, spec)
        if problems or left:
            pytest.fail(
                "workload teardown: "
                + "; ".join(problems + [f"left behind: {item}" for item in left])
                + " (expected everything the smoke run created to be gone)"
            )


def test_server_with_volume_and_floating_ip(
    built: workload.Created, smoke: SmokeConfig, hosts: Any
) -> None:
    assert built.steps == ["network", "server", "volume", "floating-ip"], (
        f"workload reached {built.steps} (expected network, server, volume, floating-ip)"
    )
    if smoke.expected("ping") and smoke.manager and smoke.ssh_config:
        address = built.floating_address
        result = hosts(smoke.manager).run(f"ping -c 3 -W 5 {address}")
        assert result.rc == 0, (
            f"floating IP {address} does not answer ping from the manager "
            f"({result.stdout.strip().splitlines()[-1:]}; expected replies)"
        )
