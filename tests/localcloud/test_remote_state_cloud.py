"""Remote state on the real local cloud: one testbed, two machines (two state directories,
two remote-state configurations) sharing it through an S3 store on loopback.

Machine A deploys a three-node testbed of the `local` environment with its state in the store;
machine B attaches it from the store alone (plus the private key, handed over as a team would),
shows its status, logs in to the manager over ssh and destroys it; A's view then shows the
testbed gone, and nothing is left in the cloud or on the host.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.localcloud.conftest import LocalCloud, cli_runner, host_leftovers, user_env
from tests.netns.containers import tcp_banner, wait_until
from tests.terraform.test_remote_state import BUCKET, KEYS, s3_store  # noqa: F401

Cli = Callable[..., subprocess.CompletedProcess[str]]


def machine(base: Path, store: dict[str, Any], clouds_file: Path) -> Cli:
    """A "machine": its own state directory and remote-state configuration, the store's keys."""
    base.mkdir()
    env = user_env(
        clouds_file, base, SCS_TESTBED_REMOTE_STATE_CONFIG=str(base / "remote-state.json"), **KEYS
    )
    run = cli_runner(env, base, timeout=1500)
    run.state = base / "state"  # type: ignore[attr-defined]
    return run


def test_two_machines_share_one_testbed_on_the_local_cloud(
    booting_cloud: LocalCloud,
    s3_store: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    from scs_testbed.discover import find_resources

    cloud = booting_cloud
    name = f"prt-rs-{secrets.token_hex(2)}"
    a = machine(tmp_path / "a", s3_store, cloud.clouds_file)
    b = machine(tmp_path / "b", s3_store, cloud.clouds_file)
    settings = ("--endpoint", s3_store["url"], "--bucket", BUCKET, "--prefix", "prt")
    for run in (a, b):
        done = run("remote-state", "set", *settings)
        assert done.returncode == 0, done.stdout + done.stderr
    figures: dict[str, float] = {}
    destroyed_by_b = False
    try:
        started = time.monotonic()
        deployed = a("deploy", "-e", "local", "--name", name, "--nodes", "3")
        figures["deploy (A)"] = time.monotonic() - started
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        record = json.loads((a.state / "testbeds" / name / "testbed.json").read_text())  # type: ignore[attr-defined]
        assert record["backend"]["type"] == "s3"
        stored = s3_store["client"].list_objects_v2(Bucket=BUCKET, Prefix=f"prt/{name}/")
        assert [o["Key"] for o in stored.get("Contents", [])] == [f"prt/{name}/terraform.tfstate"]
        assert not (a.state / "testbeds" / name / "terraform.tfstate").exists()  # type: ignore[attr-defined]

        listed = b("remote-state", "list", "--json")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        row = next(r for r in json.loads(listed.stdout) if r["name"] == name)
        assert row["environment"] == "local" and row["resources"] > 0 and not row["locked"]

        key = a.state / "testbeds" / name / "id_ed25519"  # type: ignore[attr-defined]
        started = time.monotonic()
        attached = b("remote-state", "attach", name, "--key", str(key))
        figures["attach (B)"] = time.monotonic() - started
        assert attached.returncode == 0, attached.stdout + attached.stderr

        shown = b("status", name, "--json")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        info = json.loads(shown.stdout)
        assert sorted(s["name"] for s in info["servers"]) == [
            f"{name}-manager",
            *(f"{name}-node-{i}" for i in range(3)),
        ]
        assert {s["status"] for s in info["servers"]} == {"ACTIVE"}
        manager = str(info["outputs"]["manager_address"])
        assert manager and [i["address"] for i in info["floating_ips"]] == [manager]

        # ssh from B: the servers boot (booting_cloud: the nspawn driver)
        wait_until(
            lambda: tcp_banner(manager).startswith(b"SSH-2.0"),
            600,
            f"sshd on the manager's {manager}",
        )
        started = time.monotonic()
        logged_in = b("ssh", "--name", name, "manager", "--", "true", timeout=900)
        figures["ssh (B)"] = time.monotonic() - started
        assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr

        started = time.monotonic()
        gone = b("destroy", name, "--yes")
        figures["destroy (B)"] = time.monotonic() - started
        assert gone.returncode == 0, gone.stdout + gone.stderr
        destroyed_by_b = True
        assert find_resources(cloud.project, name) == []

        # A's view: the store's state is empty, the cloud has nothing
        after = a("status", name, "--json")
        assert after.returncode == 0, after.stdout + after.stderr
        view = json.loads(after.stdout)
        assert view["servers"] == view["volumes"] == view["floating_ips"] == []
        assert view["state"] == "destroyed", view
        listed = a("remote-state", "list", "--json")
        row = next(r for r in json.loads(listed.stdout) if r["name"] == name)
        assert row["resources"] == 0
    finally:
        if not destroyed_by_b:
            a("destroy", name, "--yes", "--force-cleanup")
        left = find_resources(cloud.project, name)
    assert left == []
    if cloud.boots:
        assert not [line for line in host_leftovers() if name in line]
    print(f"\nFIGURES remote state: {', '.join(f'{k} {v:.1f} s' for k, v in figures.items())}")
