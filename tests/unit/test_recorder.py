"""Recording through a pseudo-terminal, the cast format, the replay's schedule, redaction."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from scs_testbed import redact
from scs_testbed.cast import Recorded, RedactingStream, read_cast, schedule, until_step
from scs_testbed.errors import InputError
from scs_testbed.recorder import (
    RESET,
    plan_replay,
    record,
    refuse_unless_terminal,
    replay,
    without_record,
)

pytestmark = pytest.mark.unit

RICH_CHILD = """
import os, sys
from rich.console import Console
console = Console()
print("terminal:", sys.stdout.isatty(), os.get_terminal_size(1).columns, flush=True)
console.print("[bold red]failed[/] [green]done[/]")
print("the password is", os.environ["PLANTED"], flush=True)
"""


def record_child(
    tmp_path: Path, code: str, env: dict[str, str] | None = None
) -> tuple[Path, int, bytes]:
    """Record `python -c code` as `record` does for a user; what the 'terminal' got too."""
    cast = tmp_path / "run.cast"
    read_end, write_end = os.pipe()
    shown = bytearray()
    drain = threading.Thread(target=lambda: _drain(read_end, shown))
    drain.start()
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        with open(os.devnull) as no_keys:
            code_ = record(
                cast,
                [sys.executable, "-c", code],
                Recorded("scs-testbed deploy -e local --name t1", "t1", "0.1.0"),
                in_fd=no_keys.fileno(),
                out_fd=write_end,
                size=(97, 31),
            )
    finally:
        os.environ.clear()
        os.environ.update(old)
        os.close(write_end)
        drain.join()
    return cast, code_, bytes(shown)


def _drain(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        into += chunk
    os.close(fd)


def test_a_child_printing_rich_colours_is_recorded_as_its_terminal_showed_it(tmp_path):
    secret = "planted-Secret-9f3a"
    redact.remember_secret(secret)
    cast, code, shown = record_child(tmp_path, RICH_CHILD, {"PLANTED": secret})
    assert code == 0
    text = cast.read_text()
    header = json.loads(text.splitlines()[0])
    assert header["version"] == 2 and (header["width"], header["height"]) == (97, 31)
    assert header["scs_testbed"] == {
        "command": "scs-testbed deploy -e local --name t1", "testbed": "t1", "version": "0.1.0",
    }  # fmt: skip
    assert "env" not in header  # never the environment's values
    output = "".join(data for _, kind, data in read_cast(cast).events if kind == "o")
    assert "terminal: True 97" in output  # a real terminal of the asked size
    assert "\x1b[1;31mfailed\x1b[0m" in output and "\x1b[32mdone\x1b[0m" in output  # colours
    assert output.encode() == shown  # the cast holds exactly what the terminal got
    assert secret not in text and secret not in shown.decode()
    assert "the password is ***" in output


def test_the_recorded_childs_exit_code_is_returned(tmp_path):
    _, code, _ = record_child(tmp_path, "import sys; print('bye'); sys.exit(5)")
    assert code == 5


def test_a_secret_split_across_reads_is_still_masked():
    redact.remember_secret("split-secret-77aa")
    stream = RedactingStream(hold=10.0)
    out = stream.feed(b"token split-sec", 0.0) + stream.feed(b"ret-77aa done\n", 0.01)
    assert out == "token *** done\n"


def test_a_partial_line_is_shown_once_it_waited():
    stream = RedactingStream(hold=0.05)
    assert stream.feed(b"\x1b[2K progress 50%", 1.0) == ""
    assert stream.due(1.01) == ""
    assert stream.due(1.06) == "\x1b[2K progress 50%"


def test_a_cast_with_a_planted_clouds_yaml_password_holds_no_trace_of_it(tmp_path, monkeypatch):
    """The recorder reads clouds.yaml itself, so even a child that leaks the password raw
    (no redaction of its own) cannot put it into the cast."""
    from scs_testbed.recorder import _know_cloud_secrets

    password = "Planted-Pw-0xC0FFEE"
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  demo:\n    auth:\n      auth_url: https://keystone.example:5000/v3\n"
        f"      username: u\n      password: {password}\n      project_name: p\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    _know_cloud_secrets()
    leak = f"import sys; sys.stdout.write(open({str(clouds)!r}).read())"
    cast, code, shown = record_child(tmp_path, leak)
    assert code == 0
    assert password not in cast.read_text() and password not in shown.decode()
    assert "password: ***" in cast.read_text()


def test_record_is_refused_with_json_or_without_a_terminal(tmp_path):
    with pytest.raises(InputError, match="--json"):
        refuse_unless_terminal(tmp_path / "a.cast", ["ci", "-e", "local", "--json"])
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(InputError, match="not a terminal"):
            refuse_unless_terminal(tmp_path / "a.cast", ["deploy"], out_fd=write_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert not (tmp_path / "a.cast").exists()


def test_the_record_option_is_taken_out_of_the_recorded_command():
    assert without_record(["deploy", "--record", "x.cast", "-e", "local"]) == [
        "deploy",
        "-e",
        "local",
    ]
    assert without_record(["watch", "--record=x.cast", "t"]) == ["watch", "t"]


def write_cast(path: Path, events: list[list[object]], width: int = 80) -> Path:
    lines = [json.dumps({"version": 2, "width": width, "height": 24})]
    lines += [json.dumps(e) for e in events]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_schedule_squeezes_long_waits_to_the_idle_limit(tmp_path):
    # a 60-minute deployment: a few quick lines, then long silences
    events = [[0.5, "o", "a"], [1.0, "o", "b"], [1801.0, "o", "c"], [3600.0, "o", "d"]]
    cast = write_cast(tmp_path / "long.cast", events)
    plan = plan_replay(cast, idle_limit=2.0)
    assert plan.recorded_seconds == 3600.0
    assert plan.items == [(0.5, "a"), (0.5, "b"), (2.0, "c"), (2.0, "d")]
    assert plan.seconds == 5.0
    fast = plan_replay(cast, speed=4.0, idle_limit=2.0)
    assert fast.seconds == pytest.approx(1.25)
    assert schedule([(0.0, "i", "typed"), (1.0, "o", "x")]) == [(1.0, "x")]  # output only


def test_replay_writes_every_text_after_its_wait_and_restores_the_terminal(tmp_path):
    cast = write_cast(tmp_path / "c.cast", [[1.0, "o", "\x1b[?25lone"], [9.0, "o", "two"]])
    written: list[str] = []
    slept: list[float] = []
    replay(plan_replay(cast, idle_limit=3.0), written.append, slept.append)
    assert slept == [1.0, 3.0]
    assert written == ["\x1b[?25lone", "two", RESET]


def test_ctrl_c_during_replay_restores_the_terminal_and_goes_on(tmp_path):
    cast = write_cast(tmp_path / "c.cast", [[1.0, "o", "one"], [2.0, "o", "two"]])
    written: list[str] = []

    def interrupted(seconds: float) -> None:
        if written:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(plan_replay(cast), written.append, interrupted)
    assert written == ["one", RESET + "\r\n"]


def test_until_stops_at_the_step_watch_shows(tmp_path):
    events = [
        [0.1, "o", "watching testbed t\r\n"],
        [0.2, "o", "== docker start\r\n"],
        [0.3, "o", "\x1b[32m== docker done\x1b[0m\r\n== osism-ansible start\r\n"],
        [0.4, "o", "   log line\r\n"],
    ]
    cast = write_cast(tmp_path / "w.cast", events)
    plan = plan_replay(cast, until="osism-ansible")
    assert [text for _, text in plan.items][-1].endswith("== osism-ansible start\r\n")
    assert len(plan.items) == 3
    with pytest.raises(InputError, match="no step 'ceph'") as raised:
        plan_replay(cast, until="ceph")
    assert "docker, osism-ansible" in (raised.value.hint or "")
    live = ["│ ✔ │ docker │ 0:12 │", "│ … │ ceph │ 0:01 │"]
    assert until_step(live, "ceph") == 1


HEADER = '{"version": 2, "width": 80, "height": 24}\n'


@pytest.mark.parametrize(
    ("content", "line", "what"),
    [
        ("", 1, "empty file"),
        ('{"version": 1, "width": 80, "height": 24}\n', 1, "not an asciicast v2 header"),
        ('{"version": 2, "width": 80}\n', 1, "height"),
        (HEADER + '[0.1, "o", "a"]\n[0.2, "o", "b"\n', 3, "not JSON"),
        (HEADER + '[0.1, "o", "a"]\n\n{"o": 1}\n', 4, "not an event"),
        (HEADER + '[0.5, "o", "a"]\n[0.2, "o", "b"]\n', 3, "before"),
    ],
)  # fmt: skip
def test_a_damaged_cast_names_its_line(tmp_path, content, line, what):
    cast = tmp_path / "bad.cast"
    cast.write_text(content)
    with pytest.raises(InputError, match=what) as raised:
        read_cast(cast)
    assert raised.value.message.startswith(f"{cast}:{line}:")


def test_replay_cli_exit_codes(tmp_path):
    import subprocess

    bad = tmp_path / "bad.cast"
    bad.write_text('{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "a"]\nnot json\n')
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    run = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "replay", str(bad)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert f"{bad}:3:" in run.stderr
    good = write_cast(tmp_path / "g.cast", [[0.01, "o", "hello\r\n"]])
    run = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "replay", str(good), "--idle-limit", "0.01"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout.startswith("hello")
    refused = subprocess.run(
        [sys.executable, "-m", "scs_testbed", "watch", "--record", str(tmp_path / "x.cast")],
        capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "not a terminal" in refused.stderr and not (tmp_path / "x.cast").exists()
