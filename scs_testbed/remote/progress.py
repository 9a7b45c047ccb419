"""The progress protocol (v1) written by the in-VM bootstrap, and the board of step states.

One JSON object per line in /var/log/scs-testbed/progress.jsonl:
`{"v":1,"ts":"2024-05-01T10:00:00Z","step":"docker","state":"start","detail":"…"}`.
The bootstrap ends with step "testbed" in state "done" or "failed".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

PROTOCOL_VERSION = 1
PROGRESS_PATH = "/var/log/scs-testbed/progress.jsonl"
LOG_PATH = "/var/log/scs-testbed/bootstrap.log"
FINAL_STEP = "testbed"
STATES = ("start", "done", "failed", "skipped")


class ProtocolError(ValueError):
    """A progress line that does not follow the protocol."""


@dataclass(frozen=True)
class ProgressEvent:
    """One parsed progress line."""

    step: str
    state: str
    ts: datetime | None = None
    detail: str = ""

    @property
    def is_final(self) -> bool:
        return self.step == FINAL_STEP and self.state in ("done", "failed")


def parse_event(line: str) -> ProgressEvent:
    """Parse one JSON line of the protocol; raise ProtocolError with the reason if it is not."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"not JSON: {error.msg}") from error
    if not isinstance(data, dict):
        raise ProtocolError("not a JSON object")
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version!r} (expected 1)")
    step, state = data.get("step"), data.get("state")
    if not isinstance(step, str) or not step:
        raise ProtocolError("missing 'step'")
    if state not in STATES:
        raise ProtocolError(f"state {state!r} is not one of {', '.join(STATES)}")
    detail = data.get("detail", "")
    return ProgressEvent(step, state, _parse_ts(data.get("ts")), str(detail or ""))


def _parse_ts(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class StepStatus:
    """What is known about one step; `state` is running, done, failed or skipped."""

    name: str
    state: str
    started: datetime | None = None
    finished: datetime | None = None
    detail: str = ""

    def elapsed(self, now: datetime) -> float | None:
        """Seconds the step ran (or runs so far); None if it never started."""
        if self.started is None:
            return None
        end = self.finished or now
        return max(0.0, (end - self.started).total_seconds())


@dataclass
class ProgressBoard:
    """Steps in order of first appearance, folded from the events."""

    steps: dict[str, StepStatus] = field(default_factory=dict)
    first_ts: datetime | None = None
    outcome: str | None = None  # "done" or "failed" once the final event arrived
    failed_step: str | None = None
    invalid_lines: int = 0

    def apply(self, event: ProgressEvent) -> None:
        """Fold one event into the board."""
        ts = event.ts or datetime.now(UTC)
        if self.first_ts is None:
            self.first_ts = ts
        if event.step == FINAL_STEP:
            if event.state == "start":
                # a run of the bootstrap begins: the first, the one after the reboot, or one
                # started again after a failure (a source fixed, its unit restarted), whose
                # steps are the news and the old failure is not
                self.outcome = None
                self.failed_step = None
            if event.state in ("done", "failed"):
                self.outcome = event.state
                if event.state == "failed" and self.failed_step is None:
                    self.failed_step = event.detail or FINAL_STEP
            return
        status = self.steps.get(event.step)
        if status is None:
            status = self.steps[event.step] = StepStatus(event.step, "running")
        if event.state == "start":
            status.state, status.started, status.finished = "running", ts, None
        else:
            status.state = event.state
            status.finished = ts if status.started else None
            if event.state == "failed" and self.failed_step is None:
                self.failed_step = event.step
        if event.detail:
            status.detail = event.detail

    @property
    def running(self) -> list[StepStatus]:
        return [s for s in self.steps.values() if s.state == "running"]

    def total_elapsed(self, now: datetime) -> float:
        """Seconds since the first event."""
        return 0.0 if self.first_ts is None else max(0.0, (now - self.first_ts).total_seconds())
