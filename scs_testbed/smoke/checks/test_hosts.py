"""Every host: clock synchronised, enough free disk."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.smoke import findings
from scs_testbed.smoke.suite import SmokeConfig

pytestmark = [pytest.mark.quick, pytest.mark.hosts]


def test_time_synchronised(hosts: Any, host: str) -> None:
    result = hosts(host).run("timedatectl show")
    problems = findings.time_sync_problems(host, result.stdout)
    assert not problems, "\n".join(problems)


def test_free_disk(hosts: Any, host: str, smoke: SmokeConfig) -> None:
    result = hosts(host).run("df --output=avail -B1 /")
    lines = result.stdout.split()
    assert result.rc == 0 and lines[-1:] and lines[-1].isdigit(), (
        f"{host}: `df /` failed: {result.stderr.strip()} (expected the free bytes on /)"
    )
    problems = findings.disk_problems(host, int(lines[-1]), smoke.expected("min_free_gb"))
    assert not problems, "\n".join(problems)
