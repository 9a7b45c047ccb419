"""`down` stops every process the cloud started; runs last (see conftest), then restarts it
for whoever comes next — unless the cloud is this run's own and is removed right after the
tests (.ci/run sets SCS_TESTBED_TEST_CLOUD_DISPOSABLE=1): then a restart would be wasted."""

from __future__ import annotations

import os

from scs_testbed import localcloud
from scs_testbed.localcloud import procs
from scs_testbed.localcloud.services import SERVICES
from tests.localcloud.conftest import LocalCloud, cli, start_cloud


def test_down_leaves_no_process_behind(cloud: LocalCloud) -> None:
    layout = localcloud.Layout.default()
    records = [procs.ProcessRecord.load(layout.pid_file(s.name)) for s in SERVICES]
    family = {}
    for record in records:
        assert record is not None and record.alive()
        for pid in [record.pid, *procs.descendants(record.pid)]:
            family[pid] = procs.start_ticks(pid)
    assert len(family) > len(SERVICES)  # gunicorn workers, beam, oslo children
    try:
        done = cli("localcloud", "down")
        assert done.returncode == 0, done.stderr
        survivors = [
            pid for pid, ticks in family.items() if procs.ProcessRecord(pid, ticks or 0).alive()
        ]
        assert survivors == []
        assert not any(procs.is_listening(p) for s in SERVICES for p in s.ports)
        assert not any(layout.pid_file(s.name).exists() for s in SERVICES)
        again = cli("localcloud", "down")
        assert again.returncode == 0 and "nothing was running" in again.stderr
    finally:
        if os.environ.get("SCS_TESTBED_TEST_CLOUD_DISPOSABLE") != "1":
            start_cloud()  # leave the cloud running for whoever comes next
    if os.environ.get("SCS_TESTBED_TEST_CLOUD_DISPOSABLE") != "1":
        assert localcloud.is_running()
