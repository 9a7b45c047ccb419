"""Ceph through the manager's ceph client: health, quorum, mgr, OSDs up and in."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings
from scs_testbed.smoke.probes import run_json
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.quick, pytest.mark.hosts]


def test_ceph_status(manager: Any, smoke: SmokeConfig) -> None:
    status = run_json(manager, "ceph status --format json", "Ceph")
    osds = smoke.expected("osds") or max(1, smoke.expected("nodes"))
    problems = findings.ceph_problems(status, smoke.expected("mons"), osds)
    assert not problems, "\n".join(problems)
