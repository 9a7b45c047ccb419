"""Follow the bootstrap over one SSH connection: progress events and the human log.

Both files are followed from byte offsets that count only complete lines handed on, so after
a dropped connection the followers restart exactly where the last complete line ended: no
line is lost and none is repeated.
"""

from __future__ import annotations

import json
import select
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from scs_testbed.errors import RemoteError
from scs_testbed.remote.progress import (
    LOG_PATH,
    PROGRESS_PATH,
    ProgressBoard,
    ProgressEvent,
    ProtocolError,
    parse_event,
)

if TYPE_CHECKING:
    import paramiko

    from scs_testbed.remote.ssh import Connection

CLOUD_INIT_RESULT = "/run/cloud-init/result.json"
# The manager's bootstrap runs as this unit, not inside cloud-init: cloud-init finishes in the
# first minute (and the reference's cleanup may purge it), the bootstrap runs for hours.
BOOTSTRAP_UNIT = "scs-testbed-bootstrap.service"


@dataclass(frozen=True)
class WatchOptions:
    """What to follow and when to give up (seconds)."""

    progress_path: str = PROGRESS_PATH
    log_path: str = LOG_PATH
    cloud_init_result: str | None = CLOUD_INIT_RESULT
    timeout: float = 4 * 3600.0
    stall_timeout: float = 30 * 60.0
    reconnect_for: float = 300.0
    cloud_init_interval: float = 30.0
    tick: float = 0.25
    bootstrap_unit: str | None = BOOTSTRAP_UNIT


class WatchSink(Protocol):
    """Receives what watch sees, in order; the views implement it."""

    def event(self, event: ProgressEvent, board: ProgressBoard) -> None: ...

    def log_line(self, line: str) -> None: ...

    def note(self, message: str) -> None: ...

    def tick(self, board: ProgressBoard) -> None: ...


@dataclass
class WatchResult:
    """How the watch ended (only returned on success; failures raise RemoteError)."""

    board: ProgressBoard
    events: int = 0
    log_lines: int = 0
    reconnects: int = 0
    seconds: float = 0.0


@dataclass
class _Follower:
    """One remote file followed from a byte offset of complete lines."""

    path: str
    offset: int = 0
    pending: bytes = b""

    def command(self) -> str:
        # tail -c +N starts at byte N (1-based); -F survives the file not existing yet.
        quoted = shlex.quote(self.path)
        return f"exec tail -c +{self.offset + 1} -F -- {quoted} 2>/dev/null"

    def feed(self, data: bytes) -> list[str]:
        self.pending += data
        *complete, self.pending = self.pending.split(b"\n")
        self.offset += sum(len(line) + 1 for line in complete)
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in complete]


@dataclass
class _State:
    board: ProgressBoard = field(default_factory=ProgressBoard)
    unit_ended_seen: int = 0


class _Dropped(Exception):
    """The connection or a follower went away; reconnect and resume from the offsets."""


def follow(
    connect: Callable[[], Connection], sink: WatchSink, options: WatchOptions | None = None
) -> WatchResult:
    """Follow the bootstrap until the final event; raise RemoteError on failure, stall, timeout.

    `connect` opens a fresh connection (with its own boot-time retries); it is called again
    after a dropped connection until `options.reconnect_for` seconds have passed.
    """
    opts = options or WatchOptions()
    progress, log = _Follower(opts.progress_path), _Follower(opts.log_path)
    state = _State()
    result = WatchResult(state.board)
    started = last_activity = time.monotonic()
    next_cloud_init = started + opts.cloud_init_interval
    conn: Connection | None = None
    try:
        while True:
            if conn is None:
                conn = _reconnect(connect, sink, opts, first=result.reconnects == 0)
            channels: dict[paramiko.Channel, _Follower] = {}
            try:
                for follower in (progress, log):
                    follower.pending = b""
                    channels[_open(conn, follower)] = follower
                while True:
                    now = time.monotonic()
                    _check_clock(state.board, opts, started, last_activity, now)
                    if opts.cloud_init_result and now >= next_cloud_init:
                        next_cloud_init = now + opts.cloud_init_interval
                        _check_cloud_init(conn, opts.cloud_init_result)
                        if opts.bootstrap_unit:
                            _check_bootstrap_unit(conn, opts.bootstrap_unit, state)
                    readable, _, _ = select.select(list(channels), [], [], opts.tick)
                    for channel in readable:
                        data = channel.recv(65536) if channel.recv_ready() else b""
                        if not data:
                            if channel.eof_received or channel.closed:
                                raise _Dropped(f"{channels[channel].path} follower ended")
                            continue
                        last_activity = time.monotonic()
                        lines = channels[channel].feed(data)
                        if channels[channel] is progress:
                            _take_events(lines, state.board, sink, result)
                        else:
                            for line in lines:
                                result.log_lines += 1
                                sink.log_line(line)
                    if state.board.outcome == "done" or state.board.failed_step:
                        _drain(conn, channels, log, sink, result)
                    if state.board.outcome == "done":
                        result.seconds = time.monotonic() - started
                        return result
                    _raise_if_failed(state.board)
                    if not conn.alive:
                        raise _Dropped("connection closed")
                    sink.tick(state.board)
            except _Dropped as dropped:
                sink.note(f"connection lost ({dropped}); reconnecting")
            except (OSError, EOFError) as error:
                if conn.alive:
                    raise
                sink.note(f"connection lost ({type(error).__name__}); reconnecting")
            finally:
                for channel in channels:
                    channel.close()
            conn.close()
            conn = None
            result.reconnects += 1
            state.unit_ended_seen = 0
    finally:
        if conn is not None:
            conn.close()


def _reconnect(
    connect: Callable[[], Connection], sink: WatchSink, opts: WatchOptions, first: bool
) -> Connection:
    deadline = time.monotonic() + opts.reconnect_for
    delay = 0.2
    while True:
        try:
            return connect()
        except RemoteError as error:
            from scs_testbed.remote.ssh import HostKeyChangedError

            if first or isinstance(error, HostKeyChangedError) or time.monotonic() > deadline:
                raise
            sink.note(f"still reconnecting: {error.message}")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _open(conn: Connection, follower: _Follower) -> paramiko.Channel:
    transport = conn.client.get_transport()
    if transport is None or not transport.is_active():
        raise _Dropped("connection closed")
    try:
        channel = transport.open_session(timeout=10)
        channel.exec_command(follower.command())
    except Exception as error:
        raise _Dropped(f"cannot start follower: {error}") from error
    return channel


def _drain(
    conn: Connection,
    channels: dict[paramiko.Channel, _Follower],
    log: _Follower,
    sink: WatchSink,
    result: WatchResult,
    wait: float = 5.0,
) -> None:
    """Read the log up to its size now, so the lines written before the end are all shown."""
    quoted = shlex.quote(log.path)
    code, out, _ = conn.run(f"stat -c %s -- {quoted} 2>/dev/null || echo 0", timeout=30)
    try:
        size = int(out.split()[0]) if code == 0 and out.split() else 0
    except ValueError:
        size = 0
    channel = next(c for c, f in channels.items() if f is log)
    deadline = time.monotonic() + wait
    while log.offset + len(log.pending) < size and time.monotonic() < deadline:
        readable, _, _ = select.select([channel], [], [], 0.1)
        if readable and channel.recv_ready():
            for line in log.feed(channel.recv(65536)):
                result.log_lines += 1
                sink.log_line(line)
        elif channel.eof_received or channel.closed:
            break


def _take_events(
    lines: list[str], board: ProgressBoard, sink: WatchSink, result: WatchResult
) -> None:
    for line in lines:
        if not line.strip():
            continue
        try:
            event = parse_event(line)
        except ProtocolError as error:
            board.invalid_lines += 1
            sink.note(f"ignored a progress line ({error}): {line[:120]}")
            continue
        board.apply(event)
        result.events += 1
        sink.event(event, board)


def _raise_if_failed(board: ProgressBoard) -> None:
    if board.failed_step is None:
        return
    step = board.steps.get(board.failed_step)
    detail = step.detail if step else ""
    raise RemoteError(
        f"bootstrap failed in step {board.failed_step!r}" + (f": {detail}" if detail else ""),
        hint=f"read the log: scs-testbed ssh -- tail -n 200 {LOG_PATH}",
    )


def _check_clock(
    board: ProgressBoard, opts: WatchOptions, started: float, last_activity: float, now: float
) -> None:
    running = ", ".join(s.name for s in board.running) or "none"
    if now - started > opts.timeout:
        raise RemoteError(
            f"the bootstrap did not finish within {opts.timeout:.0f} s (running: {running})",
            hint="raise --timeout, or look at the log with scs-testbed ssh",
        )
    if now - last_activity > opts.stall_timeout:
        raise RemoteError(
            f"the bootstrap log stalled: nothing new for {opts.stall_timeout:.0f} s "
            f"(running: {running})",
            hint="a step may hang (image pulls, package mirrors); look with scs-testbed ssh, "
            "or raise --stall-timeout",
        )


def _check_cloud_init(conn: Connection, path: str) -> None:
    """Fail on errors cloud-init reported (its finishing says nothing about the bootstrap)."""
    code, out, _ = conn.run(f"cat -- {shlex.quote(path)} 2>/dev/null || true", timeout=30)
    if code != 0 or not out.strip():
        return
    try:
        data = json.loads(out)
        errors = [str(e) for e in data.get("v1", {}).get("errors", [])]
    except (ValueError, AttributeError):
        return
    if errors:
        raise RemoteError(
            "cloud-init reported errors",
            details=errors,
            hint="see the console log (scs-testbed console) and /var/log/cloud-init-output.log",
        )


def _check_bootstrap_unit(conn: Connection, unit: str, state: _State) -> None:
    """Fail when the bootstrap unit ended (twice in a row, no start queued) without a final event.

    Between the step `reboot` and the reboot itself the unit has ended too: the second look
    comes an interval later, when the reboot has dropped the connection (which resets this).
    """
    command = (
        "systemctl show --property=LoadState --property=ActiveState --property=Job "
        f"-- {shlex.quote(unit)}"
    )
    code, out, _ = conn.run(f"{command} 2>/dev/null || true", timeout=30)
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    ended = (
        props.get("LoadState") == "loaded"  # an unknown unit shows as inactive too
        and props.get("ActiveState") in ("inactive", "failed")
        and not props.get("Job")
    )
    if code != 0 or not ended or state.board.outcome is not None:
        state.unit_ended_seen = 0
        return
    state.unit_ended_seen += 1
    if state.unit_ended_seen >= 2:
        raise RemoteError(
            f"the bootstrap unit {unit} ended ({props['ActiveState']}) without reporting "
            "'testbed done'",
            hint=f"see journalctl -u {unit} and /var/log/scs-testbed/bootstrap.log on the "
            "manager (scs-testbed ssh)",
        )
