#!/usr/bin/env python3
"""CLI start time (`scs-testbed --help`, target < 0.3 s) and `env validate --all` time."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str], runs: int) -> tuple[float, float, int]:
    samples = []
    code = 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, check=False, cwd="/").returncode
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), code


def main() -> None:
    command = shutil.which("scs-testbed") or sys.exit("scs-testbed is not installed")
    baseline, _, _ = timed([sys.executable, "-c", "pass"], 9)
    median, best, code = timed([command, "--help"], 15)
    print(f"python interpreter start (baseline): median {baseline:.3f} s")
    print(f"scs-testbed --help: median {median:.3f} s, best {best:.3f} s (target < 0.3 s)")
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
