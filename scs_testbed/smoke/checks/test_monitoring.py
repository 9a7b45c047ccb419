"""Prometheus healthy and ready, only allow-listed alerts firing."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings
from scs_testbed.smoke.probes import run_json
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.quick, pytest.mark.hosts]


@pytest.mark.parametrize("endpoint", ["healthy", "ready"])
def test_prometheus(manager: Any, smoke: SmokeConfig, endpoint: str) -> None:
    url = f"http://{smoke.api_int}:9091/-/{endpoint}"
    result = manager.run(f"curl -fsS --max-time 20 {url}")
    assert result.rc == 0, (
        f"Prometheus {url}: curl exited {result.rc} {result.stderr.strip()[-200:]} "
        "(expected HTTP 200)"
    )


def test_alerts(manager: Any, smoke: SmokeConfig) -> None:
    alerts = run_json(
        manager,
        f"curl -fsS --max-time 20 http://{smoke.api_int}:9091/api/v1/alerts",
        "Prometheus alerts",
    )
    problems = findings.alert_problems(alerts, smoke.expected("allowed_alerts"))
    assert not problems, "\n".join(problems)
