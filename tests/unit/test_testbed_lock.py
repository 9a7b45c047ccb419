"""One writer per testbed: plan, deploy and destroy hold its lock; a second one is refused.

Also: destroy removes the directory or says it could not (never "destroyed" over a leftover),
and a workspace that is a symbolic link is damaged, never followed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scs_testbed import teardown, testbed
from scs_testbed.errors import InputError
from scs_testbed.state_dir import DamagedRecord
from scs_testbed.testbed import SilentReporter
from scs_testbed.workspace import Busy, Workspace, find_workspace, locked

REPO = Path(__file__).resolve().parents[2]
META = {"name": "tb", "environment": "local", "cloud": "c", "prefix": "tb", "state": "deploying"}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def seeded(meta: dict[str, str] = META) -> Workspace:
    ws = Workspace.named("tb")
    ws.create()
    ws.write_meta(dict(meta))
    return ws


@pytest.fixture
def holder(state: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds testbed tb's lock as `deploy` until it is stopped."""
    code = (
        "import sys, time\n"
        "from scs_testbed.workspace import Workspace, locked\n"
        "with locked(Workspace.named('tb'), 'deploy'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "SCS_TESTBED_STATE_DIR": str(state), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_second_writer_is_refused_naming_the_holder(
    state: Path, holder: subprocess.Popen[str]
) -> None:
    ws = Workspace.named("tb")
    busy = rf"testbed tb is busy: deploy \(PID {holder.pid}\)"
    with pytest.raises(Busy, match=busy) as caught, locked(ws, "destroy"):
        pytest.fail("the lock was taken twice")
    assert caught.value.exit_code == 2


def test_destroy_of_a_deploying_testbed_whose_deploy_still_runs_is_refused(
    state: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = seeded()
    before = ws.meta_file.read_bytes()

    def no_cloud(cloud: str) -> None:
        pytest.fail("destroy connected (and would force-clean) under a running deploy")

    monkeypatch.setattr("scs_testbed.cloud.connect", no_cloud)
    with pytest.raises(Busy):
        teardown.destroy(ws, None, SilentReporter(), retry_delays=())
    assert ws.meta_file.read_bytes() == before
    assert ws.path.is_dir()


def test_the_cli_refuses_destroy_while_deploy_runs(
    state: Path, holder: subprocess.Popen[str]
) -> None:
    seeded()
    env = {**os.environ, "SCS_TESTBED_STATE_DIR": str(state), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "destroy", "tb", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"testbed tb is busy: deploy (PID {holder.pid})" in " ".join(done.stderr.split())
    assert "destroyed" not in done.stdout + done.stderr


def test_the_lock_is_released_with_its_holder_and_nests(state: Path) -> None:
    ws = seeded()
    with locked(ws, "deploy"), locked(ws, "destroy"):  # deploy --destroy-on-failure
        assert json.loads((ws.path / ".busy").read_text())["command"] == "deploy"
    with locked(ws, "plan"):
        pass
    assert not (ws.path / ".busy").exists()


def test_a_new_testbed_without_a_record_leaves_no_directory(state: Path) -> None:
    ws = Workspace.named("fresh")
    with pytest.raises(RuntimeError), locked(ws, "deploy"):
        assert ws.path.is_dir()
        raise RuntimeError("preflight failed")
    assert not ws.path.exists() and not state.exists()


def test_a_symlinked_workspace_is_damaged_never_followed(state: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "testbed.json").write_text(json.dumps(META))
    (state / "testbeds").mkdir(parents=True)
    (state / "testbeds" / "tb").symlink_to(elsewhere)
    with pytest.raises(DamagedRecord, match="symbolic link"):
        find_workspace("tb")
    (row,) = testbed.list_testbeds()
    assert row["state"] == "damaged" and "symbolic link" in row["damaged"]
    with pytest.raises(DamagedRecord), locked(Workspace.named("tb"), "destroy"):
        pass
    assert (elsewhere / "testbed.json").exists()


def test_destroy_says_so_when_the_directory_cannot_be_removed(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = seeded({**META, "state": "deployed"})
    monkeypatch.setattr("scs_testbed.cloud.connect", lambda cloud: object())
    monkeypatch.setattr("scs_testbed.discover.find_resources", lambda conn, prefix: [])

    def stuck(path: object, onerror: Any) -> None:  # e.g. a file made immutable (root)
        onerror(os.unlink, f"{path}/logs/x.log", PermissionError(1, "Operation not permitted"))

    monkeypatch.setattr("scs_testbed.testbed_files.shutil.rmtree", stuck)
    with pytest.raises(InputError, match="could not be removed") as caught:
        teardown.destroy(ws, None, SilentReporter(), retry_delays=())
    assert caught.value.exit_code == 2
    assert "Operation not permitted" in " ".join(caught.value.details)
