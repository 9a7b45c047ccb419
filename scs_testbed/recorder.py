"""`--record FILE.cast` and `scs-testbed replay`: a command recorded as the terminal shows it,
and played back with its long waits squeezed.

Recording runs the same command line (without --record) as a child on a pseudo-terminal of
the user's terminal's size, so Rich draws its colours and live views exactly as it would; what
the child writes is masked (`redact`, with every secret of clouds.yaml known) and then both
shown on the terminal and written to the cast, so the file holds what the terminal showed.
The user's keys go to the child (Ctrl-C included: it reaches the child as SIGINT, and the
child's own teardown is recorded too); nothing typed is recorded.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scs_testbed import __version__, runner
from scs_testbed.cast import (
    HOLD,
    CastWriter,
    Recorded,
    RedactingStream,
    read_cast,
    schedule,
    steps_shown,
    until_step,
)
from scs_testbed.errors import InputError

RECORDING_VARIABLE = "SCS_TESTBED_RECORDING"  # set in the recorded child: no second recorder
RESET = "\x1b[0m\x1b[?25h"  # attributes off, cursor shown: how a replay leaves the terminal


def without_record(args: Sequence[str]) -> list[str]:
    """The command line without its `--record FILE` (or `--record=FILE`)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--record":
            skip = True
        elif not arg.startswith("--record="):
            out.append(arg)
    return out


def refuse_unless_terminal(path: Path, args: Sequence[str], out_fd: int = 1) -> None:
    """--record records a terminal: with --json, or output that is no terminal, it is an
    InputError (exit 2) and nothing runs."""
    if "--json" in args:
        raise InputError(
            f"--record {path}: nothing run: --json writes data, not a terminal session",
            hint="record without --json, or drop --record",
        )
    if not os.isatty(out_fd):
        raise InputError(
            f"--record {path}: nothing run: the output is not a terminal (a pipe or a file)",
            hint="run it in a terminal to record it; for logs leave --record out",
        )
    if path.suffix != ".cast":
        raise InputError(f"--record {path}: the file must end in .cast (asciicast v2)")
    if not path.parent.is_dir():
        raise InputError(f"--record {path}: the directory {path.parent} does not exist")


def record_command(path: Path, args: Sequence[str], testbed: str | None) -> int:
    """Run `scs-testbed ARGS` (without --record) on a pseudo-terminal, recorded into `path`;
    returns its exit code."""
    refuse_unless_terminal(path, args)
    _know_cloud_secrets()
    argv = without_record(args)
    recorded = Recorded("scs-testbed " + shlex.join(argv), testbed, __version__)
    child = [sys.executable, "-m", "scs_testbed", *argv]
    return record(path, child, recorded)


def _know_cloud_secrets() -> None:
    """Read clouds.yaml here too (it registers its secrets): the child masks its own output,
    and this process masks it once more before anything reaches the cast."""
    from scs_testbed.clouds_yaml import load_clouds
    from scs_testbed.errors import TestbedError

    with suppress(TestbedError):  # no clouds.yaml, or a broken one: the child will say so
        load_clouds()


def record(
    path: Path,
    argv: Sequence[str],
    recorded: Recorded,
    *,
    in_fd: int = 0,
    out_fd: int = 1,
    size: tuple[int, int] | None = None,
) -> int:
    """Run `argv` on a pseudo-terminal of the terminal's size (or `size`), show and record
    its output; returns its exit code."""
    columns, rows = size or terminal_size(out_fd)
    proc, master = runner.spawn_pty(argv, columns, rows, env={RECORDING_VARIABLE: "1"})
    stream = RedactingStream()
    resized: list[bool] = []
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: resized.append(True))
    try:
        with CastWriter(path, columns, rows, recorded) as cast, _raw(in_fd):
            _pump(proc, master, stream, cast, in_fd, out_fd, resized)
            _show(cast, out_fd, stream.close())
        return proc.wait()
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        os.close(master)
        if proc.poll() is None:
            runner.stop_tree(proc.pid)


def _pump(
    proc: Any,
    master: int,
    stream: RedactingStream,
    cast: CastWriter,
    in_fd: int,
    out_fd: int,
    resized: list[bool],
) -> None:
    """Copy the child's output (masked) to the terminal and the cast, the keys to the child,
    until the child has closed its terminal."""
    forward_keys = os.isatty(in_fd)
    while True:
        try:
            readable, _, _ = select.select(
                [master, *([in_fd] if forward_keys else [])], [], [], HOLD
            )
        except KeyboardInterrupt:  # Ctrl-C reached this process (keys not forwarded): pass it on
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            continue
        if resized:
            resized.clear()
            _resize(master, cast, out_fd)
        if master in readable:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child's side is closed
                data = b""
            if not data:
                return
            _show(cast, out_fd, stream.feed(data, time.monotonic()))
        else:
            _show(cast, out_fd, stream.due(time.monotonic()))
        if forward_keys and in_fd in readable:
            keys = os.read(in_fd, 1024)
            if keys:
                os.write(master, keys)


def _show(cast: CastWriter, out_fd: int, text: str) -> None:
    if not text:
        return
    data = text.encode()
    while data:
        data = data[os.write(out_fd, data) :]
    cast.output(text)


def terminal_size(fd: int) -> tuple[int, int]:
    """The terminal's columns and rows; a terminal that reports none (0 x 0, e.g. one without
    a window) counts as $COLUMNS x $LINES, else 80 x 24."""
    columns, rows = os.get_terminal_size(fd)
    if columns < 1 or rows < 1:
        columns = int(os.environ.get("COLUMNS", "0") or 0) or 80
        rows = int(os.environ.get("LINES", "0") or 0) or 24
    return columns, rows


def _resize(master: int, cast: CastWriter, out_fd: int) -> None:
    import fcntl
    import struct
    import termios

    with suppress(OSError, ValueError):
        columns, rows = terminal_size(out_fd)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        cast.resize(columns, rows)


@contextmanager
def _raw(fd: int) -> Any:
    """The user's terminal in raw mode while recording (keys go to the child as they are),
    restored whatever happens."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


# --------------------------------------------------------------------------- replay


@dataclass
class Replay:
    """What a replay will play: its waits and texts, and what it took / will take."""

    items: list[tuple[float, str]]
    recorded_seconds: float
    header: dict[str, Any]

    @property
    def seconds(self) -> float:
        return sum(delay for delay, _ in self.items)


def plan_replay(
    path: Path, speed: float = 1.0, idle_limit: float | None = None, until: str | None = None
) -> Replay:
    """Read the cast and make its schedule (InputError for a damaged file or unknown step)."""
    if not speed > 0:
        raise InputError(f"--speed {speed}: give a number above 0, e.g. 2")
    if idle_limit is not None and not idle_limit > 0:
        raise InputError(f"--idle-limit {idle_limit}: give a number of seconds above 0, e.g. 2")
    cast = read_cast(path)
    items = schedule(cast.events, speed, idle_limit)
    if until is not None:
        texts = [text for _, text in items]
        index = until_step(texts, until)
        if index is None:
            shown = steps_shown(texts)
            raise InputError(
                f"--until {until}: watch shows no step {until!r} in {path}",
                hint="steps in it: " + (", ".join(shown) if shown else "none (no watch output)"),
            )
        items = items[: index + 1]
    return Replay(items, cast.duration, cast.header)


def replay(
    plan: Replay,
    write: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Play the schedule; Ctrl-C stops it with the terminal's attributes and cursor restored
    (and goes on as KeyboardInterrupt: exit 130)."""
    try:
        for delay, text in plan.items:
            if delay > 0:
                sleep(delay)
            write(text)
    except KeyboardInterrupt:
        write(RESET + "\r\n")
        raise
    write(RESET)
