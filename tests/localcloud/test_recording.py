"""`deploy -e local --record`: the recording replays to the screen the live run left, and holds
no secret of clouds.yaml. Real Terraform, real APIs; the testbed is destroyed afterwards."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scs_testbed.discover import find_resources
from tests.localcloud.conftest import LocalCloud, cli_runner, user_env

pytest.importorskip("pyte", reason="pyte compares the terminal screens (pip install pyte)")

COLUMNS, ROWS = 132, 50
# the shared local cloud: no data volumes (they are not what is recorded)
SMALL = ("-o", "number_of_volumes=0")


def run_in_terminal(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """Run argv as a user at a terminal of COLUMNS x ROWS; everything that terminal got."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        argv, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )  # fmt: skip
    os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([master], [], [], 1.0)
            if not readable:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), bytes(shown)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def screen_text(data: str, columns: int, rows: int) -> list[str]:
    """What a terminal of that size shows after `data` (its lines, trailing blanks cut)."""
    import pyte

    screen = pyte.Screen(columns, rows)
    stream = pyte.Stream(screen)
    stream.feed(data)
    return [line.rstrip() for line in screen.display]


def test_a_recorded_deploy_replays_to_the_live_runs_final_screen(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    from scs_testbed.recorder import plan_replay

    name = f"rec{os.getpid() % 100000}"
    env = user_env(cloud.clouds_file, tmp_path)
    for wide in ("COLUMNS", "LINES", "NO_COLOR"):  # the terminal says its size; colours on
        env.pop(wide, None)
    env["TERM"] = "xterm-256color"
    cast = tmp_path / "deploy.cast"
    cli = cli_runner(env, tmp_path)
    try:
        started = time.monotonic()
        code, shown = run_in_terminal(
            [sys.executable, "-m", "scs_testbed", "deploy", "-e", "local", "--name", name,
             *SMALL, "--record", str(cast)],
            env,
            timeout=1500,
        )  # fmt: skip
        live_seconds = time.monotonic() - started
        live = shown.decode("utf-8", "replace")
        assert code == 0, live[-3000:]
        assert f"testbed {name} deployed" in live

        full = plan_replay(cast)
        squeezed = plan_replay(cast, idle_limit=1.0)
        replayed = "".join(text for _, text in squeezed.items)
        header = full.header
        assert (header["width"], header["height"]) == (COLUMNS, ROWS)
        assert header["scs_testbed"]["testbed"] == name
        assert "\x1b[" in replayed  # Rich's colours and cursor moves are in the cast
        # the terminal showed the recorder's output and nothing else: the same final screen
        live_screen = screen_text(live, COLUMNS, ROWS)
        replay_screen = screen_text(replayed, header["width"], header["height"])
        assert any(f"testbed {name} deployed" in line for line in replay_screen)
        assert replay_screen == live_screen

        # no secret of the cloud's clouds.yaml reaches the cast
        clouds = yaml.safe_load(cloud.clouds_file.read_text())["clouds"]
        secrets = {
            entry["auth"][key]
            for entry in clouds.values()
            for key in ("password", "application_credential_secret")
            if key in entry.get("auth", {})
        }
        text = cast.read_text()
        assert secrets and not [s for s in secrets if s in text]
        # the figure for the note: idle compression
        print(
            f"\nrecording: live {live_seconds:.1f} s, cast {full.recorded_seconds:.1f} s, "
            f"replay {full.seconds:.1f} s, with --idle-limit 1: {squeezed.seconds:.1f} s, "
            f"{len(full.items)} output events, {cast.stat().st_size} bytes"
        )
        assert squeezed.seconds <= full.seconds
        assert squeezed.seconds <= sum(min(d, 1.0) for d, _ in full.items) + 1e-6
    finally:
        done = cli("destroy", name, "--yes", "--force-cleanup")
        assert done.returncode == 0 or "no testbed named" in done.stderr, done.stderr
    assert find_resources(cloud.project, name) == []  # the prefix is the name
