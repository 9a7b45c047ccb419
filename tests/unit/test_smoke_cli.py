"""`scs-testbed smoke` as a user runs it: bad input (exit 2), --print-command, the summary,
JUnit written, failures and zero checks (exit 6). No testbed is reachable: the API target is a
refused loopback port, so the checks fail for real, and fast."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.tiers import REPO


def cli(
    *args: str, state: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    merged = dict(os.environ, COLUMNS="200", NO_COLOR="1", SCS_TESTBED_STATE_DIR=str(state))
    merged["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    for name in ("SCS_TESTBED_SMOKE_CLOUD", "SCS_TESTBED_SMOKE_CACERT"):
        merged.pop(name, None)
    merged.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", "smoke", *args],
        cwd=state,
        env=merged,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state dir with one deployed-looking testbed `smk-tb` (deploy_mode openstack) and a
    clouds.yaml whose cloud `refused` points at a closed loopback port."""
    root = tmp_path / "state"
    testbed = root / "testbeds" / "smk-tb"
    testbed.mkdir(parents=True)
    (testbed / "testbed.json").write_text(
        json.dumps({"name": "smk-tb", "cloud": "refused", "prefix": "smk-tb"})
    )
    (testbed / "terraform.tfvars.json").write_text(
        json.dumps({"cloud_provider": "refused", "deploy_mode": "openstack"})
    )
    (testbed / "outputs.json").write_text(
        json.dumps(
            {
                "manager_address": "203.0.113.7",
                "image_user": "ubuntu",
                "node_addresses": ["192.168.16.10", "192.168.16.11", "192.168.16.12"],
                "vip_addresses": ["192.168.16.8", "192.168.16.9", "192.168.16.254"],
            }
        )
    )
    (tmp_path / "clouds.yaml").write_text(
        "clouds:\n  refused:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n"
        "      username: u\n      password: p\n      project_name: p\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
    )
    return root


def _env(state: Path) -> dict[str, str]:
    return {"OS_CLIENT_CONFIG_FILE": str(state.parent / "clouds.yaml")}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nosuch"], "no testbed named 'nosuch'"),
        (["-m", "quick and"], "not a valid expression"),
        (["-m", "quik"], "unknown marker quik"),
        (["-k", "a b"], "not a valid expression"),
        (["--expect", "nodez=3"], "unknown key 'nodez'"),
        (["--expect", "nodes=x"], "whole number"),
        (["--cloud", "nosuch"], "cloud 'nosuch' is not in clouds.yaml"),
        (["--cacert", "/nonexistent/ca.crt"], "no such file"),
        (["--junit", "."], "is a directory"),
        ([""], "the testbed name is empty"),
    ],
)
def test_bad_input_is_exit_2_with_one_clear_line(state: Path, args: list[str], words: str) -> None:
    done = cli(*args, state=state, env=_env(state))
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert not (state / "testbeds" / "smk-tb" / "smoke" / "junit.xml").exists()


def test_print_command_prints_the_pytest_argv_and_exits_0(state: Path) -> None:
    done = cli("--print-command", "-m", "api", "-k", "catalog", state=state, env=_env(state))
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    assert argv[:3] == [sys.executable, "-m", "pytest"]
    assert argv[argv.index("-m", 3) : argv.index("-m", 3) + 2] == ["-m", "api"]
    config = json.loads(Path(argv[argv.index("--smoke-config") + 1]).read_text())
    assert config["deploy_mode"] == "openstack"
    assert config["nodes"] == ["node-0", "node-1", "node-2"]
    assert config["api_int"] == "192.168.16.9"
    assert not (state / "testbeds" / "smk-tb" / "smoke" / "junit.xml").exists()  # nothing ran


def test_failing_checks_exit_6_with_summary_and_junit(state: Path) -> None:
    junit = state / "reports" / "smoke.xml"
    done = cli(
        "smk-tb",
        "--cloud",
        "refused",
        "-m",
        "api and quick",
        "--junit",
        str(junit),
        state=state,
        env=_env(state),
    )
    assert done.returncode == 6, done.stdout + done.stderr
    assert "6 of 6 smoke checks failed" in done.stderr
    assert "cannot use the OpenStack API of cloud 'refused'" in done.stderr
    assert "│ openstack │ 0      │ 6      │ 0" in done.stdout  # the summary table
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) == 6 and all(
        c.find("error") is not None or c.find("failure") is not None for c in cases
    )


def test_zero_checks_is_a_failure_not_a_pass(state: Path) -> None:
    done = cli("smk-tb", "-k", "no_such_check", state=state, env=_env(state))
    assert done.returncode == 6, done.stdout + done.stderr
    assert "no smoke check ran (none selected, selection -k 'no_such_check')" in done.stderr


def test_checks_of_a_later_mode_are_left_out(state: Path) -> None:
    """deploy_mode openstack: monitoring (full) is deselected, so -m selecting it runs nothing."""
    done = cli("smk-tb", "-k", "prometheus or alerts", state=state, env=_env(state))
    assert done.returncode == 6
    assert "no smoke check ran" in done.stderr
