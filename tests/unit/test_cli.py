"""The installed command, run as a user runs it: from another directory, exit codes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    merged = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    merged.pop("SCS_TESTBED_ENV_DIR", None)
    merged.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scs_testbed", *args],
        cwd=cwd,
        env=merged,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_command_groups(tmp_path: Path) -> None:
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("envs", "env"):
        assert command in done.stdout


def test_help_lines_flow_at_the_terminal_width(tmp_path: Path) -> None:
    """A docstring's line breaks do not reach the list of commands: its summaries wrap at the
    terminal's width (doctor's docstring breaks its line after "clouds.yaml,")."""
    done = cli("--help", cwd=tmp_path)
    lines = done.stdout.splitlines()
    doctor = next(line for line in lines if line.lstrip("│ ").startswith("doctor "))
    assert "clouds.yaml, credentials, state directory" in doctor


def test_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("scs-testbed ")


def test_envs_json_from_any_directory(tmp_path: Path) -> None:
    done = cli("envs", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["otc"]["public"] == "admin_external_net"
    assert rows["local"]["cloud"] == "localcloud"
    assert Path(rows["ovh"]["path"]).is_file()


def test_local_environments_directory_shadows(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "ovh.tfvars").write_text('cloud_provider = "mine"\n')
    done = cli("env", "show", "ovh", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["builtin"] is False
    assert shown["variables"]["cloud_provider"] == {
        "value": "mine",
        "source": "file",
        "where": "environments/ovh.tfvars:1",
    }
    assert shown["variables"]["number_of_nodes"]["source"] == "default"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("env", "show", "nonexistent"), "unknown environment 'nonexistent'"),
        (("env", "show", "ovh", "-o", "flavour_node=x"), "did you mean flavor_node"),
        (("env", "show", "ovh", "-o", "number_of_nodes=x"), "a number is required"),
        (("envs", "--env-dir", "/nonexistent/dir"), "does not exist"),
        (("env", "validate"), "or pass --all"),
        (("no-such-command",), "No such command"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def loaded_modules(*modules: str) -> list[str]:
    """The modules of scs_testbed a fresh interpreter has loaded after importing `modules`."""
    code = (
        f"import sys, {', '.join(modules)}; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('scs_testbed'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PYTHONPATH=os.fspath(Path(__file__).resolve().parents[2])),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def test_a_command_module_runs_without_the_application() -> None:
    """cli/__init__ hands out `app` and `main` on first use: importing a command module does not
    run the application, which imports every command module (no loop through the package)."""
    loaded = loaded_modules("scs_testbed.cli.options", "scs_testbed.cli.signals")
    assert "scs_testbed.cli.application" not in loaded
    assert "scs_testbed.cli.access" not in loaded

    from scs_testbed.cli import app, application, main

    assert (app, main) == (application.app, application.main)
