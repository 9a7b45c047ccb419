"""OSISM containers: the manager's services run; nothing unhealthy, restarting or failed."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.quick, pytest.mark.hosts]

PS = "docker ps -a --format '{{json .}}'"


def containers(host: Any, alias: str) -> list[dict[str, str]]:
    """The host's containers; a failure when Docker does not answer."""
    result = host.run(PS)
    if result.rc != 0:
        pytest.fail(
            f"{alias}: `docker ps` exited {result.rc}: "
            f"{(result.stderr or result.stdout).strip()[-200:]} "
            "(expected Docker running the OSISM containers)"
        )
    return findings.parse_docker_ps(result.stdout)


def test_manager_services_running(manager: Any, smoke: SmokeConfig) -> None:
    rows = containers(manager, "manager")
    problems = findings.missing_containers(
        "manager", rows, smoke.expected("manager_containers")
    ) + findings.container_problems("manager", rows)
    assert not problems, "\n".join(problems)


@pytest.mark.needs("ceph")
def test_node_containers_healthy(hosts: Any, node: str) -> None:
    rows = containers(hosts(node), node)
    problems = findings.container_problems(node, rows)
    if not any(r.get("State") == "running" for r in rows):
        problems.append(f"{node}: no container runs (expected the Ceph/OpenStack services)")
    assert not problems, "\n".join(problems)
