"""What `scs-testbed --help` and `--version` load: none of the heavy cloud libraries.

Start-up time is measured in benchmarks/cli_bench.py; this checks the behaviour behind it: the
cloud clients (openstacksdk, keystoneauth, boto3/botocore, paramiko) and the HCL parser are
imported by the commands that use them, not by the program's start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("openstack", "keystoneauth1", "botocore", "boto3", "paramiko", "hcl2", "lark", "yaml")


def run_entry(*args: str) -> tuple[int, str, list[str]]:
    """Run the console entry point with `args` in a fresh interpreter: exit code, stdout and
    the top-level packages it had loaded by its exit."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps("
        "sorted({m.split('.')[0] for m in sys.modules})) + '\\n'))\n"
        f"sys.argv = ['scs-testbed', *{list(args)!r}]\n"
        "from scs_testbed.cli.entry import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PYTHONPATH=os.fspath(REPO), NO_COLOR="1", COLUMNS="100"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return done.returncode, done.stdout, json.loads(line.removeprefix("MODULES "))


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("deploy", "--help")])
def test_start_up_loads_no_cloud_library(args: tuple[str, ...]) -> None:
    code, out, loaded = run_entry(*args)
    assert code == 0, out
    assert out.strip(), "nothing printed"
    assert not set(HEAVY) & set(loaded), sorted(set(HEAVY) & set(loaded))


def test_version_answers_without_the_typer_application() -> None:
    code, out, loaded = run_entry("--version")
    from scs_testbed import __version__

    assert (code, out) == (0, f"scs-testbed {__version__}\n")
    assert "typer" not in loaded and "rich" not in loaded


def test_version_line_is_the_applications_own() -> None:
    """The fast path prints what the Typer application's --version prints (also after
    another option, where the fast path does not apply)."""
    fast = run_entry("--version")[1]
    full = run_entry("--debug", "--version")
    assert full[0] == 0
    assert full[1] == fast
    assert "typer" in full[2]


def test_help_lists_the_commands() -> None:
    code, out, _ = run_entry("--help")
    assert code == 0
    for command in ("check", "deploy", "destroy", "ssh", "localcloud"):
        assert command in out
