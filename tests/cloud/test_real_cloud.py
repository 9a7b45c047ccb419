"""Against a real OpenStack project (off unless SCS_TESTBED_CLOUD names a clouds.yaml entry).

SCS_TESTBED_CLOUD_ENV picks the environment (default: the cloud's name); the preflight is
read-only. SCS_TESTBED_CLOUD_DEPLOY=1 also deploys and destroys a one-node testbed, which
costs money on a public cloud.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
    )


def environment() -> list[str]:
    cloud = os.environ["SCS_TESTBED_CLOUD"]
    return ["-e", os.environ.get("SCS_TESTBED_CLOUD_ENV", cloud), "-o", f"cloud_provider={cloud}"]


def test_preflight_reads_the_real_project() -> None:
    done = cli("check", *environment(), "--json")
    assert done.returncode in (0, 3), done.stderr
    report = json.loads(done.stdout)
    items = {c["item"] for c in report["checks"]}
    assert {"instances", "vCPUs", "RAM", "volumes", "floating IPs"} <= items


@pytest.mark.skipif(
    not os.environ.get("SCS_TESTBED_CLOUD_DEPLOY"),
    reason="set SCS_TESTBED_CLOUD_DEPLOY=1 to deploy for real (costs money)",
)
def test_deploy_and_destroy_the_smallest_testbed() -> None:
    name = "scs-ci-cloud"
    try:
        done = cli(
            "deploy", *environment(), "--name", name, "--nodes", "3"
        )  # the minimum the configuration accepts
        assert done.returncode == 0, done.stderr
    finally:
        done = cli("destroy", name, "--yes", "--force-cleanup")
    assert done.returncode == 0, done.stderr
