"""Shared helpers of the netns tests: the writer inside the manager and a recording sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scs_testbed.remote.progress import ProgressBoard, ProgressEvent

WRITER = Path(__file__).with_name("writer.py")
REPO = Path(__file__).resolve().parents[2]


def start_writer(
    bed: Any, files: dict[str, Path], scenario: list[dict[str, Any]]
) -> subprocess.Popen[bytes]:
    """Run the writer inside the manager namespace."""
    return subprocess.Popen(
        bed.mgr.exec(
            sys.executable,
            str(WRITER),
            str(files["progress"]),
            str(files["log"]),
            json.dumps(scenario),
        )
    )


def cli(
    *args: str, netns: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run scs-testbed as a user would (a fresh process, real exit code)."""
    argv = [sys.executable, "-m", "scs_testbed", *args]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=REPO,
    )


@dataclass
class RecordingSink:
    """Records what watch hands to a view, with arrival times."""

    events: list[ProgressEvent] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def event(self, event: ProgressEvent, board: ProgressBoard) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def log_line(self, line: str) -> None:
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()

    def note(self, message: str) -> None:
        self.notes.append(message)

    def tick(self, board: ProgressBoard) -> None:
        return None

    def wait_lines(self, count: int, timeout: float = 10) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.lines) >= count, timeout):
                raise TimeoutError(f"only {len(self.lines)} of {count} lines arrived")
