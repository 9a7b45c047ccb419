"""Terminal recordings in the asciicast v2 format: written with the `asciinema` package's
writer, read back line by line (so a damaged file is named by its line), played on a schedule
whose long waits are squeezed.

What goes into a cast passes `redact` first, held back up to a line break (or a short pause)
so that a secret is never cut in two at a read boundary. The header says what was recorded
(the command line, masked; the testbed; our version) and nothing of the environment: no
`env` entry, unlike asciinema's own recorder.

The reader is ours rather than asciinema's (`asciicast.v2.open_from_file`), because that one
names no line for a broken event and takes any JSON for one.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scs_testbed.errors import InputError
from scs_testbed.redact import redact

HOLD = 0.05  # seconds a partial line waits for its end before it is shown anyway
_LINE_END = re.compile(r"[\n\r]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# how watch shows a bootstrap step: a plain line `== STEP STATE`, or a live view's row
# `✔ STEP` (a state mark, the cell's border, the name)
_PLAIN_STEP = re.compile(r"(?:^|\n)== (\S+) (?:start|done|failed|skipped)\b")
_LIVE_STEP = re.compile(r"[✔✘…-][ │|]+([A-Za-z0-9_.-]+)[ │|]")


@dataclass(frozen=True)
class Recorded:
    """What a cast says it holds (its header's `scs_testbed` entry)."""

    command: str
    testbed: str | None
    version: str

    def as_dict(self) -> dict[str, Any]:
        return {"command": redact(self.command), "testbed": self.testbed, "version": self.version}


class RedactingStream:
    """Output bytes in, masked text out: complete lines at once, a partial line once it has
    waited `hold` seconds for its end (a prompt, a live view's frame without a newline)."""

    def __init__(self, hold: float = HOLD) -> None:
        self.hold = hold
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""
        self._since: float | None = None

    def feed(self, data: bytes, now: float) -> str:
        """Take `data`; return what may be shown now (masked)."""
        self._pending += self._decoder.decode(data)
        ends = [m.end() for m in _LINE_END.finditer(self._pending)]
        if not ends:
            if self._pending and self._since is None:
                self._since = now
            return self.due(now)
        cut = ends[-1]
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        self._since = now if self._pending else None
        return redact(ready)

    def due(self, now: float) -> str:
        """The partial line, once it has waited long enough ('' before)."""
        if self._pending and self._since is not None and now - self._since >= self.hold:
            return self.close()
        return ""

    def close(self) -> str:
        """Everything still held (the end of the output)."""
        text, self._pending, self._since = self._pending + self._decoder.decode(b"", True), "", None
        return redact(text)


class CastWriter:
    """An asciicast v2 file being written (asciinema's writer), times from its opening."""

    def __init__(self, path: Path, width: int, height: int, recorded: Recorded) -> None:
        from asciinema.asciicast.v2 import writer

        metadata = {
            "timestamp": int(time.time()),
            "title": redact(recorded.command),
            "scs_testbed": recorded.as_dict(),
        }
        self._writer = writer(str(path), metadata, width=width, height=height)
        self._started = time.monotonic()

    def __enter__(self) -> CastWriter:
        self._writer.__enter__()
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._writer.__exit__(*exc)

    def output(self, text: str) -> None:
        """Text the terminal showed now (already masked)."""
        if text:
            self._writer.write_stdout(time.monotonic() - self._started, text)

    def resize(self, width: int, height: int) -> None:
        self._writer.write_resize(time.monotonic() - self._started, (width, height))


@dataclass
class Cast:
    header: dict[str, Any]
    events: list[tuple[float, str, str]]  # (seconds from the start, type, data)

    @property
    def duration(self) -> float:
        return self.events[-1][0] if self.events else 0.0


def read_cast(path: Path) -> Cast:
    """Read an asciicast v2 file; anything damaged is an InputError naming its line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"{path}: cannot read the recording: {error}",
            hint="give an asciicast v2 file written by --record",
        ) from error
    if not lines:
        raise InputError(f"{path}:1: empty file, not an asciicast v2 recording")
    header = _json_line(path, 1, lines[0])
    if not isinstance(header, dict) or header.get("version") != 2:
        raise InputError(
            f'{path}:1: not an asciicast v2 header (expected a JSON object with "version": 2)'
        )
    for key in ("width", "height"):
        if not isinstance(header.get(key), int) or header[key] < 1:
            raise InputError(f"{path}:1: the header's {key} is not a positive whole number")
    events: list[tuple[float, str, str]] = []
    last = 0.0
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        event = _json_line(path, number, text)
        if not (
            isinstance(event, list)
            and len(event) == 3
            and isinstance(event[0], int | float)
            and not isinstance(event[0], bool)
            and isinstance(event[1], str)
            and isinstance(event[2], str)
        ):
            raise InputError(
                f"{path}:{number}: not an event (expected [seconds, type, data], e.g. "
                '[1.5, "o", "text"])'
            )
        if event[0] < last:
            raise InputError(f"{path}:{number}: its time {event[0]} is before the line above's")
        last = float(event[0])
        events.append((last, event[1], event[2]))
    return Cast(header, events)


def _json_line(path: Path, number: int, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}:{number}: not JSON ({error.msg} at column {error.colno})",
            hint="the recording is damaged; record it again with --record",
        ) from None


def schedule(
    events: Iterable[tuple[float, str, str]],
    speed: float = 1.0,
    idle_limit: float | None = None,
) -> list[tuple[float, str]]:
    """The output events as (wait before it, text): each wait capped at `idle_limit` (seconds
    of the recording), then divided by `speed` (asciinema's own event transforms)."""
    from asciinema.asciicast.events import adjust_speed, cap_relative_time, to_relative_time

    output = ([t, kind, data] for t, kind, data in events if kind == "o")
    relative = adjust_speed(cap_relative_time(to_relative_time(output), idle_limit), speed)
    return [(delay, data) for delay, _kind, data in relative]


def steps_shown(texts: Sequence[str]) -> list[str]:
    """The bootstrap steps watch showed, in order of their first appearance."""
    seen: list[str] = []
    for names in _steps_so_far(texts):
        for name in names:
            if name not in seen:
                seen.append(name)
    return seen


def until_step(texts: Sequence[str], step: str) -> int | None:
    """The index of the text in which watch first shows `step` (None: it never does)."""
    return next((i for i, names in enumerate(_steps_so_far(texts)) if step in names), None)


def _steps_so_far(texts: Iterable[str]) -> Iterator[list[str]]:
    """Per text, the steps shown in the last 4 KiB of output up to it (so that a row cut in
    two between texts is still found)."""
    tail = ""
    for text in texts:
        tail = (tail + plain_text(text))[-4096:]
        yield _PLAIN_STEP.findall(tail) + _LIVE_STEP.findall(tail)


def plain_text(text: str) -> str:
    """`text` without its terminal control sequences."""
    return _ANSI.sub("", text)
