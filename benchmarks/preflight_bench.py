#!/usr/bin/env python3
"""Preflight against the local cloud: `scs-testbed check -e local` vs. the openstack CLI way.

The CLI way is what a user would type to check the same things by hand: nine `openstack` calls
one after the other (python-openstackclient from PyPI, in a venv of this bench, made on first
use; it is not a dependency of scs-testbed). Both run in alternating rounds; the bench prints
both medians, the ratio and our targets (issue 19: >= 12x faster, <= 1.0 s).
Needs the local cloud (`SCS_TESTBED_LOCALCLOUD_DIR`); skips with a reason otherwise.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.installed import as_installed  # noqa: E402
from benchmarks.lifecycle_bench import openstack_cli  # noqa: E402  (its venv, made once)

ROUNDS = int(os.environ.get("SCS_TESTBED_PREFLIGHT_ROUNDS", "5"))
# errors.EXIT_PREFLIGHT: the checks ran and one fell short (the shared cloud is busy): timed too
EXIT_PREFLIGHT = 3


def cli_way(values: dict[str, object]) -> list[list[str]]:
    osc = [str(openstack_cli()), "--os-cloud", str(values["cloud_provider"])]
    return [
        [*osc, "quota", "show", "--usage", "-f", "json"],
        [*osc, "limits", "show", "--absolute", "-f", "json"],
        [*osc, "flavor", "show", str(values["flavor_manager"]), "-f", "json"],
        [*osc, "flavor", "show", str(values["flavor_node"]), "-f", "json"],
        [*osc, "image", "list", "--name", str(values["image"]), "-f", "json"],
        [*osc, "network", "show", str(values["public"]), "-f", "json"],
        [*osc, "keypair", "list", "-f", "json"],
        [*osc, "availability", "zone", "list", "-f", "json"],
        [*osc, "volume", "type", "show", str(values["volume_type"]), "-f", "json"],
    ]


def main() -> None:
    from scs_testbed.localcloud import Layout, readiness_problem

    problem = readiness_problem()
    if problem:
        print(f"skipped: local cloud not usable: {problem}")
        return
    from scs_testbed.environment import Catalog, load_environment

    values = load_environment("local", Catalog.locate(None), []).values
    env = as_installed(
        dict(
            os.environ,
            NO_COLOR="1",
            PYTHONPATH=str(REPO),
            OS_CLIENT_CONFIG_FILE=str(Layout.default().clouds_file),
        )
    )
    calls = cli_way(values)
    ours: list[float] = []
    inner: list[float] = []
    theirs: list[float] = []
    check = [sys.executable, "-m", "scs_testbed", "check", "-e", "local", "--json"]
    for argv in (check, calls[0]):  # untimed: fills the bytecode cache as an install would
        subprocess.run(argv, env=env, capture_output=True, check=False)
    for round_ in range(ROUNDS):
        for side in ("ours", "theirs") if round_ % 2 == 0 else ("theirs", "ours"):
            start = time.perf_counter()
            if side == "ours":
                done = subprocess.run(check, env=env, capture_output=True, text=True, check=False)
                ours.append(time.perf_counter() - start)
                assert done.returncode in (0, EXIT_PREFLIGHT), done.stderr[-2000:]
                inner.append(json.loads(done.stdout)["elapsed_seconds"])
                continue
            for argv in calls:
                done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
                assert done.returncode == 0, (argv[3:6], done.stderr[-500:])
            theirs.append(time.perf_counter() - start)
    mine, cli = statistics.median(ours), statistics.median(theirs)
    ratio = cli / mine
    print(f"medians of {ROUNDS} alternating rounds (load {os.getloadavg()[0]:.2f}):")
    print(
        f"  scs-testbed check -e local: {mine:.2f} s wall (the cloud reads inside it: "
        f"{statistics.median(inner):.2f} s) (target <= 1.0 s) "
        + ("ok" if mine <= 1.0 else "NOT MET")
    )
    print(f"  openstack CLI, {len(calls)} calls: {cli:.2f} s")
    print(f"  ratio: {ratio:.1f}x faster (target >= 12x) " + ("ok" if ratio >= 12 else "NOT MET"))


if __name__ == "__main__":
    main()
