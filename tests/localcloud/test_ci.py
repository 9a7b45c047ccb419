"""`scs-testbed ci -e local` end to end on the local cloud: real steps (real Terraform, real
APIs), collect from a really deployed testbed, and nothing carrying the names afterwards —
also after SIGTERM during deploy. Three nodes (the minimum)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests import tiers
from tests.localcloud.conftest import LocalCloud, cli_runner
from tests.localcloud.test_lifecycle import lifecycle_env, names_in_cloud  # noqa: F401

CI = [sys.executable, "-m", "scs_testbed", "ci", "-e", "local", "--nodes", "3", "--skip", "smoke"]


@pytest.fixture
def ci_env(lifecycle_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    """The lifecycle tests' environment, with this checkout first on the import path."""
    return {**lifecycle_env, "PYTHONPATH": str(tiers.REPO)}


@pytest.fixture
def cli(ci_env: dict[str, str], tmp_path: Path) -> Any:
    """Run `scs-testbed ARGS` (this checkout) as a user of the local cloud would."""
    return cli_runner(ci_env, tmp_path)


def run_ci(env: dict[str, str], name: str, out: Path, *args: str, **popen: Any) -> Any:
    argv = [*CI, "--name", name, "--output", str(out), "--json", *args]
    return subprocess.Popen(argv, env=env, text=True, **popen)


def wait_for_room(cli: Any, name: str, timeout: float = 1800) -> None:
    """The local cloud is shared: wait until its quotas hold one more testbed (the preflight
    passes), so that a busy project does not decide what this test sees."""
    deadline = time.monotonic() + timeout
    while True:
        done = cli("check", "-e", "local", "--name", name, "--nodes", "3", "--json")
        if done.returncode == 0:
            return
        if done.returncode != 3 or time.monotonic() > deadline:
            pytest.fail(f"the local cloud has no room for a testbed: {done.stdout[-2000:]}")
        time.sleep(15)  # other testbeds are being destroyed: each check costs the cloud


def archive_members(out: Path) -> dict[str, bytes]:
    [archive] = out.glob("*-logs-*.tar.gz")
    with tarfile.open(archive) as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_ci_deploys_fails_at_watch_collects_destroys_and_leaves_nothing(
    cloud: LocalCloud,
    ci_env: dict[str, str],
    tmp_path: Path,
    cli: Any,
) -> None:
    name, neighbour = "cil-lc1", "cil-lc1-2"
    conn = cloud.project
    public_key = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDu+cWf1pGJm8kV4ZXO7Ubm8pWCFv9bOb4UVXwsgqB2T x"
    )
    out = tmp_path / "out"
    wait_for_room(cli, name)  # before the planted leftover, which the preflight would refuse
    try:
        # an earlier run's leftover with this testbed's exact name, and another testbed's key
        # (a run of this test killed before its `finally` leaves the neighbour's key behind)
        conn.compute.delete_keypair(f"{neighbour}-key", ignore_missing=True)
        conn.compute.create_keypair(name=f"{name}-key", public_key=public_key)
        conn.compute.create_keypair(name=f"{neighbour}-key", public_key=public_key)
        started = time.monotonic()
        process = run_ci(
            ci_env, name, out, "--timeout", "watch=60", "--junit", str(tmp_path / "j.xml"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = process.communicate(timeout=1800)
        seconds = time.monotonic() - started
        summary = json.loads(stdout)
        steps = {s["step"]: s for s in summary["steps"]}
        assert steps["cleanup"]["status"] == "passed", stderr
        assert steps["check"]["status"] == "passed", Path(steps["check"]["log"]).read_text()
        assert steps["deploy"]["status"] == "passed", Path(steps["deploy"]["log"]).read_text()
        assert steps["watch"]["status"] in ("failed", "timeout")  # no internet in the testbed
        assert summary["first_failure"] == "watch"
        assert process.returncode == summary["exit_code"] == 5
        assert steps["smoke"]["status"] == "not run"  # after a failure, not "skipped"
        assert steps["collect"]["status"] == steps["destroy"]["status"] == "passed", stderr
        files = archive_members(out)
        index = {i["path"]: i for i in json.loads(files["index.json"])["items"]}
        for server in ("manager", "node-0", "node-1", "node-2"):
            assert index[f"console/{name}-{server}.log"]["status"] == "ok"
        assert any(p.startswith("terraform/") and p.endswith("apply.jsonl") for p in files)
        if cloud.boots:  # host keys were pinned: the manager's files came over ssh
            assert index["hosts/manager/cloud-init.log"]["status"] == "ok", index
            assert index["hosts/manager/progress.jsonl"]["status"] in ("ok", "missing")
        password = _password(cloud)
        assert password.encode() not in b"".join(files.values())
        assert names_in_cloud(cloud, name) == []
        assert conn.compute.find_keypair(f"{neighbour}-key") is not None  # untouched
        assert not (Path(ci_env["SCS_TESTBED_STATE_DIR"]) / "testbeds" / name).exists()
        print(f"ci -e local (deploy, watch 60 s, collect, destroy): {seconds:.0f} s")
    finally:
        clean_up(cli, name)
        for key in (f"{name}-key", f"{neighbour}-key"):
            conn.compute.delete_keypair(key, ignore_missing=True)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_deploy_still_leaves_nothing(
    sig: int,
    code: int,
    cloud: LocalCloud,
    ci_env: dict[str, str],
    tmp_path: Path,
    cli: Any,
) -> None:
    name = f"cil-lc2-{signal.Signals(sig).name.lower()}"
    out = tmp_path / "out"
    wait_for_room(cli, name)
    process = run_ci(ci_env, name, out, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deploy_log = out / "logs" / "03-deploy.log"
    try:
        deadline = time.monotonic() + 900
        # mid-apply: the first resource exists in the cloud
        while not (deploy_log.exists() and "✔ created" in deploy_log.read_text()):
            assert process.poll() is None, "ci ended before deploy created anything"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        process.send_signal(sig)  # SIGINT: what Ctrl-C sends
        stdout, _ = process.communicate(timeout=1200)
        assert process.returncode == code
        summary = json.loads(stdout)
        steps = {s["step"]: s for s in summary["steps"]}
        assert summary["interrupted_by"] == signal.Signals(sig).name
        assert steps["deploy"]["status"] == "interrupted"
        assert steps["destroy"]["status"] == "passed"
        assert names_in_cloud(cloud, name) == []
    finally:
        if process.poll() is None:
            process.kill()
        clean_up(cli, name)


def _password(cloud: LocalCloud) -> str:
    import yaml

    clouds = yaml.safe_load(cloud.clouds_file.read_text())["clouds"]
    return str(clouds["localcloud"]["auth"]["password"])


def clean_up(cli: Any, name: str) -> None:
    """Whatever the test's outcome: the testbed, else whatever carries its exact names."""
    if cli("destroy", name, "--yes", "--force-cleanup").returncode != 0:
        cli("leftovers", "-e", "local", "--name", name, "--delete")


def test_leftovers_names_only_this_testbeds_resources(
    cloud: LocalCloud,
    cli: Any,
) -> None:
    """`leftovers` sees and deletes exactly this testbed's names (cil-lc3-key), never those
    of a testbed whose name merely starts the same (cil-lc3-2-key)."""
    conn = cloud.project
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDu+cWf1pGJm8kV4ZXO7Ubm8pWCFv9bOb4UVXwsgqB2T x"
    try:
        for name in ("cil-lc3-key", "cil-lc3-2-key"):
            conn.compute.delete_keypair(name, ignore_missing=True)  # a killed earlier run's
            conn.compute.create_keypair(name=name, public_key=key)
        found = cli("leftovers", "-e", "local", "--name", "cil-lc3", "--json")
        assert found.returncode == 4, found.stderr
        assert [r["name"] for r in json.loads(found.stdout)["remaining"]] == ["cil-lc3-key"]
        assert "1 resource(s) named cil-lc3-* remain" in found.stderr
        done = cli("leftovers", "-e", "local", "--name", "cil-lc3", "--delete")
        assert done.returncode == 0, done.stderr
        assert "nothing named cil-lc3-*" in done.stderr
        assert conn.compute.find_keypair("cil-lc3-key") is None
        assert conn.compute.find_keypair("cil-lc3-2-key") is not None
    finally:
        for name in ("cil-lc3-key", "cil-lc3-2-key"):
            conn.compute.delete_keypair(name, ignore_missing=True)
