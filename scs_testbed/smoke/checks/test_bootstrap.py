"""cloud-init and the bootstrap finished on every host (progress protocol v1)."""

from __future__ import annotations

from typing import Any

import pytest

from scs_testbed.remote.progress import PROGRESS_PATH
from scs_testbed.smoke import findings
from scs_testbed.smoke.probes import read_file

pytestmark = [pytest.mark.quick, pytest.mark.hosts]


def test_cloud_init_finished(hosts: Any, host: str) -> None:
    for path in findings.CLOUD_INIT_RESULTS:
        result = read_file(hosts(host), path)
        if result is not None:
            break
    problems = findings.cloud_init_problems(host, result, path)
    assert not problems, "\n".join(problems)


def test_bootstrap_finished(hosts: Any, host: str) -> None:
    problems = findings.progress_problems(host, read_file(hosts(host), PROGRESS_PATH))
    assert not problems, "\n".join(problems)
