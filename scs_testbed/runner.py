"""The only place that starts subprocesses. argv lists only (no shell), logged with shlex.join."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


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
) -> Completed:
    """Run a command to completion and capture its output."""
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
    )
    return Completed(args, proc.returncode, proc.stdout, proc.stderr)


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stderr_to_stdout: bool = True,
) -> int:
    """Run a command, hand each output line to `on_line` as it arrives, return the exit code.

    Ctrl-C is forwarded to the child as SIGINT once (so Terraform can stop cleanly and keep
    its state); we then wait for it to finish before re-raising KeyboardInterrupt.
    """
    args = [str(a) for a in argv]
    log.debug("stream: %s (cwd=%s)", shlex.join(args), cwd)
    with spawn(args, cwd=cwd, env=env, stderr_to_stdout=stderr_to_stdout) as proc:
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
