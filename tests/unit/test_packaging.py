"""The wheel carries the data folders, and the installed command finds them from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.tiers import REPO


def test_wheel_ships_data_and_runs_from_any_directory(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("scs_testbed-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "scs_testbed/_data/terraform/variables.tf",
        "scs_testbed/_data/terraform/security_groups.json",
        "scs_testbed/_data/environments/regiocloud.tfvars",
        "scs_testbed/_data/bootstrap/manager.yaml.tftpl",
    ):
        assert member in names, member

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH="", PYTHONSAFEPATH="1")
    done = subprocess.run(
        [str(venv / "bin" / "scs-testbed"), "envs", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "/_data/environments/" in done.stdout  # found inside the installed package
