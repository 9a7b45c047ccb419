#!/usr/bin/env python3
"""CLI start time against the floor of importing typer and rich alone (issue 19: `--help` and
`--version` <= 1.2x the floor), and `env validate --all` time.

The start-up figures run the console entry point from this checkout as the installed script
does (`scs_testbed.cli.entry:main`, without a version manager's shim in front) and with its
bytecode compiled as `pip install` leaves it (benchmarks/installed.py), the commands in
alternating order, medians of 15 runs each.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.installed import as_installed  # noqa: E402


def timed(argv: list[str], runs: int) -> tuple[float, float, int]:
    samples = []
    code = 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, check=False, cwd="/").returncode
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), code


def start_up(runs: int = 15) -> None:
    entry = (
        "import sys; from scs_testbed.cli.entry import main; sys.argv[0] = 'scs-testbed'; main()"
    )
    # What Typer's own help costs: a bare app of two commands (typer.rich_utils loads
    # rich.markdown, markdown_it, rich.traceback and pygments for every --help).
    bare = (
        "import typer; app = typer.Typer(); app.command('a')(lambda: None); "
        "app.command('b')(lambda: None); app()"
    )
    cases = {
        "python interpreter start": [sys.executable, "-c", "pass"],
        "floor: import typer, rich": [sys.executable, "-c", "import typer, rich"],
        "bare Typer app --help": [sys.executable, "-c", bare, "--help"],
        "scs-testbed --help": [sys.executable, "-c", entry, "--help"],
        "scs-testbed --version": [sys.executable, "-c", entry, "--version"],
    }
    env = as_installed(dict(os.environ, PYTHONPATH=str(REPO)))
    for argv in cases.values():  # untimed: fills the bytecode cache as an install would
        subprocess.run(argv, capture_output=True, check=False, cwd="/", env=env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):  # alternating: a load that comes and goes hits every case alike
        for name, argv in cases.items():
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, check=False, cwd="/", env=env)
            samples[name].append(time.perf_counter() - start)
            assert done.returncode == 0, (name, done.stderr[-500:])
    floor = statistics.median(samples["floor: import typer, rich"])
    for name, values in samples.items():
        median = statistics.median(values)
        target = ""
        if name.startswith("scs-testbed") or name.startswith("bare"):
            ratio = median / floor
            target = f" = {ratio:.2f}x the floor (target <= 1.2x) " + (
                "ok" if ratio <= 1.2 else "NOT MET"
            )
        print(f"{name}: median {median:.3f} s of {runs}, best {min(values):.3f} s{target}")
    bare_median = statistics.median(samples["bare Typer app --help"])
    ours = statistics.median(samples["scs-testbed --help"])
    print(
        f"scs-testbed --help = {ours / bare_median:.2f}x a bare Typer app's --help: the rest of "
        "the gap to the floor is Typer's help renderer"
    )
    print(f"load average during the runs: {os.getloadavg()[0]:.2f}")


def main() -> None:
    command = shutil.which("scs-testbed") or sys.exit("scs-testbed is not installed")
    start_up()
    terraform = str(REPO / "tests" / "tools" / "terraform-shim")
    names = sorted(p.stem for p in (REPO / "environments").glob("*.tfvars"))
    median, best, code = timed([command, "env", "validate", "--all", "--terraform", terraform], 5)
    print(
        f"scs-testbed env validate --all ({len(names)} environments, Terraform as judge): "
        f"median {median:.2f} s, best {best:.2f} s, {median / len(names):.2f} s per environment"
        f" (exit {code})"
    )
    median, best, code = timed([command, "envs"], 5)
    print(f"scs-testbed envs: median {median:.3f} s (exit {code})")


if __name__ == "__main__":
    main()
