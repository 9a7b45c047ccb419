#!/usr/bin/env python3
"""Lifecycle figures against the local cloud (root; `scs-testbed localcloud up` first).

- preflight: `scs-testbed check -e local` vs. the same reads with the `openstack` CLI
- deploy and destroy of the default testbed (3 nodes), then of 10 nodes
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import tiers  # noqa: E402


def environment(state: Path) -> dict[str, str]:
    from scs_testbed import localcloud

    rc = tiers.write_terraformrc(state / "terraformrc")
    env = dict(os.environ, NO_COLOR="1")
    env.update(
        OS_CLIENT_CONFIG_FILE=str(localcloud.Layout.default().clouds_file),
        TF_CLI_CONFIG_FILE=str(rc),
        SCS_TESTBED_TERRAFORM=str(tiers.terraform_command()),
        SCS_TESTBED_STATE_DIR=str(state / "state"),
    )
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def openstack_cli() -> Path:
    """The `openstack` CLI in a venv of its own (made on first use; pinned like the cloud)."""
    venv = Path.home() / ".cache" / "scs-testbed" / "osc-venv"
    binary = venv / "bin" / "openstack"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        constraints = REPO / "scs_testbed" / "localcloud" / "constraints.txt"
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                "-c",
                str(constraints),
                "python-openstackclient",
            ],
            check=True,
        )
    return binary


def openstack_cli_checks(env: dict[str, str]) -> list[list[str]]:
    """The preflight's reads, one `openstack` call each, as a shell script would do them."""
    osc = str(openstack_cli())
    cloud = ["--os-cloud", "localcloud"]
    return [
        [osc, *cloud, "limits", "show", "--absolute", "-f", "json"],
        [osc, *cloud, "quota", "show", "--usage", "-f", "json"],
        [osc, *cloud, "keypair", "list", "-f", "json"],
        [osc, *cloud, "flavor", "show", "SCS-4V-16-50", "-f", "json"],
        [osc, *cloud, "flavor", "show", "SCS-8V-32-50", "-f", "json"],
        [osc, *cloud, "image", "list", "--name", "Ubuntu 24.04", "-f", "json"],
        [osc, *cloud, "network", "show", "public", "-f", "json"],
        [osc, *cloud, "availability", "zone", "list", "--compute", "-f", "json"],
        [osc, *cloud, "availability", "zone", "list", "--volume", "-f", "json"],
        [osc, *cloud, "network", "list", "-f", "json"],
        [osc, *cloud, "server", "list", "-f", "json"],
        [osc, *cloud, "volume", "list", "-f", "json"],
    ]


def preflight(env: dict[str, str]) -> None:
    samples, inner = [], []
    for _ in range(5):
        seconds, done = timed(["scs-testbed", "check", "-e", "local", "--json"], env)
        assert done.returncode == 0, done.stderr
        samples.append(seconds)
        inner.append(json.loads(done.stdout)["elapsed_seconds"])
    ours = statistics.median(samples)
    print(
        f"preflight `scs-testbed check -e local`: median {ours:.2f} s wall "
        f"(API part {statistics.median(inner):.2f} s), best {min(samples):.2f} s, "
        "target < 1.5 s"
    )
    start = time.perf_counter()
    for argv in openstack_cli_checks(env):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"  openstack {' '.join(argv[3:6])} failed: {done.stderr.strip()[-200:]}")
    theirs = time.perf_counter() - start
    print(
        f"same reads with the openstack CLI ({len(openstack_cli_checks(env))} calls): "
        f"{theirs:.2f} s -> scs-testbed is {theirs / ours:.1f}x faster"
    )


def raise_quotas() -> None:
    import openstack

    admin = openstack.connect(cloud="localcloud-admin")
    project = admin.identity.find_project("testbed")
    admin.compute.update_quota_set(project.id, instances=40, cores=400, ram=1024 * 1024)
    admin.block_storage.update_quota_set(project.id, volumes=100, gigabytes=5000)
    quota = admin.network.get_quota(project.id)
    admin.network.update_quota(quota, ports=200)


def lifecycle(env: dict[str, str], nodes: int) -> None:
    name = f"bench-{nodes}"
    seconds, done = timed(
        ["scs-testbed", "deploy", "-e", "local", "--name", name, "--nodes", str(nodes)], env
    )
    if done.returncode != 0:
        print(done.stderr[-2000:])
        sys.exit(f"deploy of {nodes} nodes failed")
    state = Path(env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / name / "terraform.tfstate"
    count = sum(
        len(r["instances"])
        for r in json.loads(state.read_text())["resources"]
        if r["mode"] == "managed"
    )
    destroy, done = timed(["scs-testbed", "destroy", name, "--yes"], env)
    if done.returncode != 0:
        print(done.stderr[-2000:])
        sys.exit(f"destroy of {nodes} nodes failed")
    print(
        f"{nodes:>2} nodes: {count} resources, deploy {seconds:.1f} s "
        f"({seconds / count:.2f} s per resource), destroy {destroy:.1f} s"
    )


def main() -> None:
    if shutil.which("scs-testbed") is None:
        sys.exit("scs-testbed is not installed")
    from scs_testbed.localcloud import readiness_problem

    problem = readiness_problem()
    if problem:
        sys.exit(f"local cloud not usable: {problem}")
    with tempfile.TemporaryDirectory(prefix="scs-bench-") as tmp:
        env = environment(Path(tmp))
        preflight(env)
        os.environ["OS_CLIENT_CONFIG_FILE"] = env["OS_CLIENT_CONFIG_FILE"]
        raise_quotas()
        for nodes in (3, 10):
            lifecycle(env, nodes)


if __name__ == "__main__":
    main()
