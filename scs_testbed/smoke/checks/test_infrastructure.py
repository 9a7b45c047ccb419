"""Galera, RabbitMQ, Valkey (kolla's containers on the nodes) and OpenSearch."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings
from scs_testbed.smoke.probes import run_json
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.quick, pytest.mark.hosts]

# service -> names its kolla container has had; the container's own healthcheck is the judge
HEALTHY = {"galera": ("mariadb",), "valkey": ("valkey", "redis")}


@pytest.mark.parametrize("service", sorted(HEALTHY))
def test_container_healthy_on_every_node(hosts: Any, smoke: SmokeConfig, service: str) -> None:
    problems = []
    for node in smoke.nodes or ["<none>"]:
        result = hosts(node).run(
            "docker inspect --format '{{.Name}} {{.State.Health.Status}}' "
            + " ".join(HEALTHY[service])
        )
        states = [line.split() for line in result.stdout.splitlines() if line.strip()]
        if not any(len(s) == 2 and s[1] == "healthy" for s in states):
            found = ", ".join(" ".join(s) for s in states) or result.stderr.strip()[-150:]
            problems.append(f"{node}: {service} container not healthy ({found or 'none'})")
    assert not problems, "\n".join(problems) + f"\nexpected {service} healthy on every node"


def test_rabbitmq_cluster(hosts: Any, smoke: SmokeConfig) -> None:
    node = (smoke.nodes or ["<none>"])[0]
    status = run_json(
        hosts(node),
        "docker exec rabbitmq rabbitmqctl cluster_status --formatter json",
        "RabbitMQ",
    )
    problems = findings.rabbitmq_problems(status, smoke.expected("nodes"))
    assert not problems, "\n".join(problems)


def test_opensearch_health(manager: Any, smoke: SmokeConfig) -> None:
    health = run_json(
        manager,
        f"curl -fsS --max-time 20 http://{smoke.api_int}:9200/_cluster/health",
        "OpenSearch",
    )
    problems = findings.opensearch_problems(health)
    assert not problems, "\n".join(problems)
