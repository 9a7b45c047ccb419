"""Fixtures of the terraform tier: each test runs under OpenTofu and under Terraform, both
wired to the provider mirror. A CLI that is missing skips its half with the reason (and fails
it when the terraform tier is required, as in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import tiers

RunTerraform = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def terraform_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Process environment for the test Terraform: the provider comes from the local mirror."""
    rc = tiers.write_terraformrc(tmp_path_factory.mktemp("tfrc") / "terraformrc")
    env = dict(os.environ)
    env.update(TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    return env


@pytest.fixture(scope="session", params=["opentofu", "terraform"])
def cli_kind(request: pytest.FixtureRequest) -> str:
    """Which CLI this run of the test uses: "opentofu" or "terraform"."""
    kind = str(request.param)
    reason = tiers.missing_cli(kind)
    if reason:
        if "terraform" in tiers.required_tiers():
            pytest.fail(f"terraform tier is required under {kind} here: {reason}", pytrace=False)
        pytest.skip(f"terraform tier under {kind}: {reason}")
    return kind


@pytest.fixture(scope="session")
def run_terraform(terraform_env: dict[str, str], cli_kind: str) -> RunTerraform:
    """Run the test CLI of `cli_kind`; returns the completed process (never raises)."""
    binary = tiers.terraform_clis()[cli_kind]
    assert binary

    def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [binary, *args],
            cwd=cwd,
            env=terraform_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"{os.path.basename(binary)} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
            )
        return done

    return run


@pytest.fixture(scope="session")
def module_copy(tmp_path_factory: pytest.TempPathFactory, run_terraform: RunTerraform) -> Path:
    """A copy of terraform/ + bootstrap/ (so .terraform stays out of the tree), initialised."""
    base = tmp_path_factory.mktemp("module")
    shutil.copytree(tiers.REPO / "terraform", base / "terraform")
    shutil.copytree(tiers.REPO / "bootstrap", base / "bootstrap")
    run_terraform("init", "-input=false", "-backend=false", cwd=base / "terraform")
    return base / "terraform"
