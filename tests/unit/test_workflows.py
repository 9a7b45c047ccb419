"""The GitHub workflows: actionlint (built from its Go module: tests/tools/build-actionlint,
with shellcheck on the `run:` scripts) and the properties the issue asks of them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import tiers

WORKFLOWS = tiers.REPO / ".github" / "workflows"
ACTIONLINT_VERSION = "1.7.12"  # what tests/tools/build-actionlint builds by default


def actionlint_command() -> str | None:
    """$SCS_TESTBED_TEST_ACTIONLINT, else build-actionlint's output, else `actionlint` on PATH."""
    explicit = os.environ.get("SCS_TESTBED_TEST_ACTIONLINT")
    if explicit:
        return explicit if shutil.which(explicit) else None
    built = (
        Path.home() / ".cache" / "scs-testbed" / "actionlint" / ACTIONLINT_VERSION / "actionlint"
    )
    if built.is_file() and os.access(built, os.X_OK):
        return str(built)
    return shutil.which("actionlint")


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_actionlint_accepts_every_workflow() -> None:
    binary = actionlint_command()
    if binary is None:
        reason = "actionlint is not built (tests/tools/build-actionlint)"
        if tiers.required_tiers():  # CI (.ci/run) builds it: missing there is a failure
            pytest.fail(f"actionlint is required here: {reason}", pytrace=False)
        pytest.skip(reason)
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 3
    done = subprocess.run(
        [binary, "-no-color", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: an unknown context and a bad `needs` are reported."""
    binary = actionlint_command()
    if binary is None:
        pytest.skip("actionlint is not built (tests/tools/build-actionlint)")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: nothing\n"
        "    steps:\n      - run: echo ${{ secret.X }}\n"
    )
    done = subprocess.run([binary, "-no-color", str(broken)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "nothing" in done.stdout and "secret" in done.stdout


def test_pull_request_workflow_runs_every_tier() -> None:
    pr = load("pr.yml")
    assert "pull_request" in pr["on"]
    jobs = pr["jobs"]
    assert {"lint", "unit", "terraform", "root"} <= set(jobs)
    assert jobs["root"]["strategy"]["matrix"]["tier"] == ["netns", "localcloud"]
    scripts = "\n".join(str(step.get("run", "")) for job in jobs.values() for step in job["steps"])
    for needed in ("ruff check", "mypy", "build-tofu", "build-provider", "--driver nspawn"):
        assert needed in scripts, needed
    assert jobs["terraform"]["env"]["SCS_TESTBED_REQUIRE_TIERS"] == "terraform"


def test_deploy_workflow_is_scheduled_queued_per_cloud_and_always_cleans_up() -> None:
    deploy = load("deploy.yml")
    assert "schedule" in deploy["on"] and "workflow_dispatch" in deploy["on"]
    caller = deploy["jobs"]["testbed"]
    assert caller["concurrency"]["group"] == "scs-testbed-${{ matrix.environment }}"
    assert caller["concurrency"]["cancel-in-progress"] is False
    assert caller["uses"] == "./.github/workflows/testbed.yml"

    testbed = load("testbed.yml")
    assert testbed["env"]["TESTBED"] == "gh-${{ github.run_id }}"  # prefix from the run id
    jobs = testbed["jobs"]
    assert list(jobs) == ["preflight", "deploy", "destroy"]
    for job in jobs.values():  # clouds.yaml comes from the GitHub environment's secret
        assert job["environment"] == "${{ inputs.environment }}"
    destroy = jobs["destroy"]
    assert destroy["if"].startswith("always()") and destroy["needs"] == ["preflight", "deploy"]
    check = destroy["steps"][-1]
    assert (
        check["if"] == "always()" and "leftovers" in check["run"] and "--delete" not in check["run"]
    )
    assert "for attempt in 1 2 3 4 5" in destroy["steps"][-2]["run"]
    uploads = [s for s in jobs["deploy"]["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert uploads and uploads[0]["if"] == "always()"
    collect = next(
        s for s in jobs["deploy"]["steps"] if "collect" in str(s.get("run", "")) and s.get("if")
    )
    assert collect["if"] == "always()"
