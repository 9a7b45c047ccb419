"""watch against a real sshd in the manager namespace, fed by a writer inside it."""

from __future__ import annotations

import json
import threading
import time

import pytest

from scs_testbed.errors import RemoteError
from scs_testbed.remote import ssh
from scs_testbed.remote.watch import WatchOptions, follow
from tests.netns.helpers import RecordingSink, cli, start_writer

STEPS = ["packages", "operator", "ansible", "configuration", "docker", "manager"]


def options(files, **overrides) -> WatchOptions:  # type: ignore[no-untyped-def]
    base = {
        "cloud_init_result": str(files["result"]),
        "timeout": 60.0,
        "stall_timeout": 20.0,
        "reconnect_for": 20.0,
        "cloud_init_interval": 0.5,
    }
    base.update(overrides)
    return WatchOptions(str(files["progress"]), str(files["log"]), **base)


def happy_scenario() -> list[dict]:
    scenario: list[dict] = []
    for step in STEPS:
        scenario += [
            {"event": [step, "start", ""]},
            {"log": f"TASK [{step}] ok"},
            {"sleep": 0.02},
            {"event": [step, "done", ""]},
        ]
    scenario += [
        {"event": ["ceph", "skipped", "deploy_mode manager"]},
        {"log": "The testbed is up"},
        {"event": ["testbed", "done", ""]},
    ]
    return scenario


def test_watch_follows_every_step_and_returns_on_done(bed, remote_files) -> None:
    writer = start_writer(bed, remote_files, happy_scenario())
    sink = RecordingSink()
    result = follow(
        lambda: ssh.connect(bed.manager_target(), retry_for=5), sink, options(remote_files)
    )
    writer.wait(10)
    assert [s for s in result.board.steps] == [*STEPS, "ceph"]
    assert all(result.board.steps[s].state == "done" for s in STEPS)
    assert result.board.steps["ceph"].state == "skipped"
    assert sink.lines == [f"TASK [{s}] ok" for s in STEPS] + ["The testbed is up"]
    assert result.board.outcome == "done"


def test_watch_cli_plain_exits_0_and_shows_steps(workspace, bed, remote_files) -> None:
    start_writer(bed, remote_files, happy_scenario()).wait(10)
    r = cli(
        "watch",
        "nsbed",
        "--plain",
        "--progress-path",
        str(remote_files["progress"]),
        "--log-path",
        str(remote_files["log"]),
        "--cloud-init-result",
        "",
    )
    assert r.returncode == 0, r.stderr
    for step in STEPS:
        assert f"== {step} done" in r.stdout
    assert "is up" in r.stderr


def test_watch_cli_exits_5_naming_the_failed_step(workspace, bed, remote_files) -> None:
    scenario = [
        {"event": ["packages", "start", ""]},
        {"event": ["packages", "done", ""]},
        {"event": ["docker", "start", ""]},
        {"log": "E: Unable to locate package"},
        {"event": ["docker", "failed", "apt-get install failed (exit 100)"]},
        {"event": ["testbed", "failed", "docker"]},
    ]
    start_writer(bed, remote_files, scenario).wait(10)
    r = cli(
        "watch",
        "--plain",
        "--progress-path",
        str(remote_files["progress"]),
        "--log-path",
        str(remote_files["log"]),
        "--cloud-init-result",
        "",
    )
    assert r.returncode == 5
    assert "failed in step 'docker'" in r.stderr
    assert "apt-get install failed" in r.stderr


def test_watch_detects_a_stalled_log(bed, remote_files) -> None:
    start_writer(
        bed, remote_files, [{"event": ["docker", "start", ""]}, {"log": "pulling images"}]
    ).wait(10)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="stalled") as caught:
        follow(
            lambda: ssh.connect(bed.manager_target()),
            RecordingSink(),
            options(remote_files, stall_timeout=1.5),
        )
    assert "docker" in caught.value.message
    assert time.monotonic() - started < 10


def test_watch_fails_on_cloud_init_errors(bed, remote_files) -> None:
    start_writer(bed, remote_files, [{"event": ["packages", "start", ""]}]).wait(10)
    remote_files["result"].write_text(
        json.dumps({"v1": {"datasource": "DataSourceOpenStack", "errors": ["runcmd failed"]}})
    )
    with pytest.raises(RemoteError, match="cloud-init reported errors") as caught:
        follow(lambda: ssh.connect(bed.manager_target()), RecordingSink(), options(remote_files))
    assert caught.value.details == ["runcmd failed"]


def test_watch_survives_sshd_restart_without_losing_or_repeating_lines(bed, remote_files) -> None:
    go = remote_files["dir"] / "go"
    first = [{"log": f"line {i:03d}"} for i in range(100)]
    second = [{"log": f"line {i:03d}"} for i in range(100, 200)]
    scenario = [
        {"event": ["manager", "start", ""]},
        *first,
        {"raw": "line 2"},
        {"wait": str(go)},
        {"raw": "00 (split across the drop)\n"},
        *second,
        {"event": ["manager", "done", ""]},
        {"event": ["testbed", "done", ""]},
    ]
    writer = start_writer(bed, remote_files, scenario)
    sink = RecordingSink()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = follow(
                lambda: ssh.connect(bed.manager_target(), retry_for=10), sink, options(remote_files)
            )
        except Exception as error:  # handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    try:
        sink.wait_lines(100)
        bed.mgr.stop_sshd()
        go.write_text("")
        writer.wait(10)  # everything written while no sshd runs
        bed.mgr.start_sshd(bed.dir / "id_ed25519.pub")
    finally:
        thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    expected = [f"line {i:03d}" for i in range(100)] + ["line 200 (split across the drop)"]
    expected += [f"line {i:03d}" for i in range(100, 200)]
    assert sink.lines == expected
    assert result.reconnects >= 1  # type: ignore[attr-defined]
    assert any("reconnecting" in n for n in sink.notes)


def test_watch_command_can_be_called_directly_as_deploy_watch_does(
    workspace, bed, remote_files
) -> None:
    from scs_testbed.cli import access

    start_writer(bed, remote_files, happy_scenario()).wait(10)
    access.watch(
        "nsbed",
        plain=True,
        progress_path=str(remote_files["progress"]),
        log_path=str(remote_files["log"]),
        cloud_init_result="",
    )


def test_watch_gives_up_after_the_timeout_even_while_the_log_moves(bed, remote_files) -> None:
    scenario = [{"event": ["ceph", "start", ""]}]
    scenario += [item for i in range(40) for item in ({"log": f"TASK {i}"}, {"sleep": 0.1})]
    writer = start_writer(bed, remote_files, scenario)
    try:
        with pytest.raises(RemoteError, match="did not finish within 1 s") as caught:
            follow(
                lambda: ssh.connect(bed.manager_target()),
                RecordingSink(),
                options(remote_files, timeout=1.0),
            )
        assert "ceph" in caught.value.message
    finally:
        writer.kill()
        writer.wait()
