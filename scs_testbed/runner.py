"""The only place that starts subprocesses. argv lists only (no shell), logged with shlex.join."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Terraform writes the state (secrets in clear), its lock and plan files with the process
# umask; with 077 they are private from the start. Given to Terraform's runs only: other
# children (local cloud services, sshuttle) create files that other users must read.
PRIVATE_UMASK = 0o077


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure_details(self, lines: int = 10) -> list[str]:
        """The command line and the last `lines` lines of its output: what an error shows."""
        tail = (self.stdout + self.stderr).strip().splitlines()[-lines:]
        return [" ".join(self.argv)[:200], *tail]


def _environ(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    timeout: float | None = None,
    umask: int | None = None,
) -> Completed:
    """Run a command to completion and capture its output (`umask`: the child's, if given)."""
    args = [str(a) for a in argv]
    log.debug("run: %s (cwd=%s)", shlex.join(args), cwd)
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=_environ(env),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=None if input_text is not None else subprocess.DEVNULL,
        umask=-1 if umask is None else umask,
    )
    return Completed(args, proc.returncode, proc.stdout, proc.stderr)


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stderr_to_stdout: bool = True,
    umask: int | None = None,
) -> int:
    """Run a command, hand each output line to `on_line` as it arrives, return the exit code.

    Ctrl-C is forwarded to the child as SIGINT once (so Terraform can stop cleanly and keep
    its state); we then wait for it to finish before re-raising KeyboardInterrupt.
    """
    args = [str(a) for a in argv]
    log.debug("stream: %s (cwd=%s)", shlex.join(args), cwd)
    with spawn(args, cwd=cwd, env=env, stderr_to_stdout=stderr_to_stdout, umask=umask) as proc:
        assert proc.stdout is not None
        interrupted = False
        while True:
            try:
                for line in proc.stdout:
                    on_line(line.rstrip("\n"))
                break
            except KeyboardInterrupt:
                if interrupted:
                    proc.kill()
                    raise
                interrupted = True
                proc.send_signal(signal.SIGINT)
        code = proc.wait()
    if interrupted:
        raise KeyboardInterrupt
    return code


@contextmanager
def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stderr_to_stdout: bool = True,
    new_session: bool = False,
    umask: int | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """Start a long-running child with piped text output; always reaped on exit."""
    args = [str(a) for a in argv]
    log.debug("spawn: %s (cwd=%s)", shlex.join(args), cwd)
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=_environ(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
        text=True,
        bufsize=1,
        start_new_session=new_session,
        umask=-1 if umask is None else umask,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def spawn_pty(
    argv: Sequence[str], columns: int, rows: int, *, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a child on a new pseudo-terminal of `columns` x `rows` (its controlling
    terminal: Ctrl-C typed into it reaches the child as SIGINT); returns it and the pty's
    master side, which the caller reads and closes."""
    import fcntl
    import struct
    import termios

    args = [str(a) for a in argv]
    log.debug("spawn_pty: %s (%sx%s)", shlex.join(args), columns, rows)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def controlling_terminal() -> None:  # in the child, after setsid
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(
            args,
            env=_environ(env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=controlling_terminal,  # one ioctl after setsid, no locks taken
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return proc, master


def start_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start a daemon-like child in its own session with output to a log file; return its PID."""
    args = [str(a) for a in argv]
    log.debug("start: %s > %s", shlex.join(args), log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=_environ(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def interactive(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    """Run a command attached to the user's terminal (stdin/stdout/stderr inherited)."""
    args = [str(a) for a in argv]
    log.debug("interactive: %s", shlex.join(args))
    return subprocess.run(args, env=_environ(env), check=False).returncode


class NotReadyError(RuntimeError):
    """A child started with start_notified exited or timed out before it said READY=1."""


def start_notified(
    argv: Sequence[str],
    *,
    log_path: Path,
    ready_timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    new_session: bool = True,
) -> int:
    """Start a daemon; return its PID once it sends sd_notify READY=1.

    The child gets NOTIFY_SOCKET pointing at a datagram socket of ours (as systemd does).
    With `new_session` it outlives our terminal; without, it keeps the terminal (so that a
    sudo inside it can ask for a password). On exit or timeout before READY the child is
    stopped and NotReadyError raised.
    """
    import socket
    import tempfile
    import time

    args = [str(a) for a in argv]
    log.debug("start (notify): %s > %s", shlex.join(args), log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scs-notify-") as tmp:
        sock_path = os.path.join(tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(sock_path)
            sock.settimeout(0.1)
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    args,
                    env=_environ({**(env or {}), "NOTIFY_SOCKET": sock_path}),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=new_session,
                )
            deadline = time.monotonic() + ready_timeout
            while True:
                try:
                    if b"READY=1" in sock.recv(4096):
                        return proc.pid
                except TimeoutError:
                    pass
                if proc.poll() is not None:
                    raise NotReadyError(f"exited with code {proc.returncode} before READY")
                if time.monotonic() > deadline:
                    stop_tree(proc.pid)
                    raise NotReadyError(f"not ready after {ready_timeout:.0f} s")
        finally:
            sock.close()


def descendants(pid: int) -> list[int]:
    """PIDs of all living descendants of `pid` (children first), read from /proc."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop(0)
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid not in found:
                    found.append(kid)
                    queue.append(kid)
    return found


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (reaping our own children)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def identity(pid: int) -> str | None:
    """The process's start time since boot: tells a PID apart from a later reuse of it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def may_signal(pid: int) -> bool:
    """False for PIDs no stop may ever signal: init (<= 1), ourselves, our parent, and
    members of our process group (the shell's job) other than our own descendants."""
    if pid <= 1 or pid in (os.getpid(), os.getppid(), os.getpgrp()):
        return False
    try:
        group = os.getpgid(pid)
    except OSError:  # gone (or not ours to look at)
        return False
    return group != os.getpgrp() or pid in descendants(os.getpid())


def stop_tree(pid: int, timeout: float = 15.0, also: Sequence[int] = ()) -> bool:
    """SIGTERM `pid`, wait for it and every descendant it had (even setsid'd ones) to exit.

    `also` adds processes known from earlier (helpers already re-parented away from `pid`).
    Those still alive after `timeout` get SIGKILL. Returns True if all ended on SIGTERM.
    PIDs that `may_signal` refuses are left alone (and not waited for).
    """
    import time

    if not may_signal(pid):
        return False
    tree = [p for p in dict.fromkeys([pid, *descendants(pid), *also]) if may_signal(p)]
    with suppress(ProcessLookupError):
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in tree):
        if time.monotonic() > deadline:
            for p in tree:
                if alive(p):
                    log.debug("stop: SIGKILL %s", p)
                    with suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
            killed_by = time.monotonic() + 5
            while any(alive(p) for p in tree) and time.monotonic() < killed_by:
                time.sleep(0.02)
            return False
        time.sleep(0.05)
    return True
