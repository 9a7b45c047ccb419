"""deploy, destroy and `ci` through the fault injector (tests/tools/faultproxy.py) in front of
the local cloud: fixed seeds, faults proven by the injector's log (a run that met none fails),
and nothing the cloud's API shows with the test's names afterwards.

The proxy runs on ports of its own (real port + 22000, control 29996), started and stopped by
PID per test; the judge of leftovers is a direct connection, not one through the proxy.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.conftest import LocalCloud
from tests.tools import faultrun

PORTS = {"port_offset": 22000, "admin_port": 29996}
# Seed 29 at 10%: the first create of the network service (POST n=1) gets `reset-after` — the
# cloud creates the resource, the client sees a reset (faultproxy.decide, checked below).
RESET_AFTER_SEED = 29


@pytest.fixture
def judge(cloud: LocalCloud) -> object:
    return faultrun.direct_connection()


@pytest.fixture
def names(judge: object, tmp_path: Path) -> Iterator[list[str]]:
    """Testbeds to remove straight through the cloud (no faults) whatever the outcome: the
    test's own user (its state directory) destroys them with the direct clouds.yaml, and what a
    destroy cannot reach (no workspace, a failed destroy) is deleted by name through the judge.
    Later tests share the project's quotas: a testbed left here fails them."""
    created: list[str] = []
    yield created
    faultrun.remove_testbeds(judge, created, tmp_path / "user")


def test_the_seed_hits_a_reset_after_a_create() -> None:
    from tests.tools.faultproxy import FaultConfig, decide

    config = FaultConfig(rate=0.1, seed=RESET_AFTER_SEED)
    assert decide(config, "network", "POST", "/v2.0/networks", 1) == "reset-after"


def test_deploy_and_destroy_at_10_percent_leave_nothing(
    judge: object, names: list[str], tmp_path: Path
) -> None:
    name = "flt-lc1"
    names.append(name)
    with faultrun.fault_proxy(tmp_path / "proxy", 0.1, RESET_AFTER_SEED, **PORTS) as proxy:
        env = faultrun.user_env(proxy.clouds, tmp_path / "user")
        faultrun.wait_for_room(env, name)
        deployed = faultrun.cli(env, "deploy", "-e", "local", "--name", name, "--nodes", "3")
        output = deployed.stdout + deployed.stderr
        assert deployed.returncode in (0, 4), output[-3000:]
        if deployed.returncode == 4:  # a clear error, and the state kept for destroy
            # the retries can run out in a plan as well as in an apply
            assert re.search(r"terraform (plan|apply) failed", output), output[-3000:]
            assert (
                Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / name / "terraform.tfstate"
            ).is_file()
        resets = [
            r
            for r in proxy.records()
            if r["fault"] == "reset-after"
            and r["method"] == "POST"
            and r["upstream_status"] in (200, 201, 202)
        ]
        assert resets, f"no create met a reset-after: {proxy.faults()}"
        assert faultrun.retry_lines(output), "the lost answer was retried with a visible line"
        destroyed = faultrun.cli(env, "destroy", name, "--yes")
        assert destroyed.returncode == 0, (destroyed.stdout + destroyed.stderr)[-3000:]
        assert sum(proxy.faults().values()) >= 3, proxy.faults()
    assert faultrun.leftovers(judge, name) == []


def test_destroy_while_compute_answers_503_for_20_s(
    judge: object, names: list[str], tmp_path: Path
) -> None:
    name = "flt-lc2"
    names.append(name)
    with faultrun.fault_proxy(tmp_path / "proxy", 0.0, 1, **PORTS) as proxy:
        env = faultrun.user_env(proxy.clouds, tmp_path / "user")
        faultrun.wait_for_room(env, name)
        deployed = faultrun.cli(env, "deploy", "-e", "local", "--name", name, "--nodes", "3")
        assert deployed.returncode == 0, (deployed.stdout + deployed.stderr)[-3000:]
        seen = len(proxy.records())
        proxy.configure(rate=1.0, kinds=["503"], services=["compute"])
        healed = threading.Timer(20, lambda: proxy.configure(rate=0.0))  # the fault's length
        healed.start()
        try:
            destroyed = faultrun.cli(env, "destroy", name, "--yes")
        finally:
            healed.cancel()
            proxy.configure(rate=0.0)
        output = destroyed.stdout + destroyed.stderr
        assert destroyed.returncode == 0, output[-3000:]
        faulted = [r for r in proxy.records()[seen:] if r["fault"] == "503"]
        assert faulted and {r["service"] for r in faulted} == {"compute"}
        assert any("503 from compute" in line for line in faultrun.retry_lines(output)), output[
            -3000:
        ]
    assert faultrun.leftovers(judge, name) == []


def test_ci_at_10_percent_always_destroys_and_leaves_nothing(
    judge: object, names: list[str], tmp_path: Path
) -> None:
    name = "flt-lc3"
    names.append(name)
    out = tmp_path / "out"
    with faultrun.fault_proxy(tmp_path / "proxy", 0.1, 3, **PORTS) as proxy:
        env = faultrun.user_env(proxy.clouds, tmp_path / "user")
        faultrun.wait_for_room(env, name)
        argv = [sys.executable, "-m", "scs_testbed", "ci", "-e", "local", "--nodes", "3"]
        argv += ["--skip", "smoke", "--name", name, "--output", str(out), "--json"]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3000)
        assert sum(proxy.faults().values()) >= 1, "the run met no fault"
    summary = json.loads(done.stdout)
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["destroy"]["status"] == "passed", done.stderr[-3000:]
    assert faultrun.leftovers(judge, name) == []
