"""How watch shows what it sees: a Rich live view for people, plain lines for CI logs."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scs_testbed import ui
from scs_testbed.remote.progress import ProgressBoard, ProgressEvent, StepStatus

_STYLE = {
    "done": ("✔", "green"),
    "failed": ("✘", "bold red"),
    "skipped": ("-", "dim"),
    "running": ("…", "yellow"),
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class PlainView:
    """One line per event and per log line; nothing is redrawn (for CI logs and pipes)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> PlainView:
        ui.info(f"watching testbed {self.name}")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def event(self, event: ProgressEvent, board: ProgressBoard) -> None:
        status = board.steps.get(event.step)
        elapsed = status.elapsed(datetime.now(UTC)) if status and event.state != "start" else None
        extra = f" ({_duration(elapsed)})" if elapsed is not None else ""
        detail = f" — {event.detail}" if event.detail else ""
        ui.plain(f"== {event.step} {event.state}{extra}{detail}")

    def log_line(self, line: str) -> None:
        ui.plain(f"   {line}")

    def note(self, message: str) -> None:
        ui.warn(message)

    def tick(self, board: ProgressBoard) -> None:
        return None


class LiveView:
    """Steps with state and elapsed time, the total, and the log tail, redrawn in place."""

    def __init__(self, name: str, tail_lines: int = 12) -> None:
        self.name = name
        self.board = ProgressBoard()
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.notes: deque[str] = deque(maxlen=2)
        self.live = Live(console=ui.console, refresh_per_second=4, get_renderable=self.render)

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def render(self) -> Any:
        now = datetime.now(UTC)
        steps = Table(box=None, show_header=False, pad_edge=False)
        for column in ("", "step", "elapsed", "detail"):
            steps.add_column(column, overflow="fold" if column == "detail" else "ellipsis")
        for status in self.board.steps.values():
            steps.add_row(*self._row(status, now))
        title = f"testbed {self.name} — {_duration(self.board.total_elapsed(now))}"
        if self.board.outcome:
            title += f" — {self.board.outcome}"
        log = ui.line("\n".join(self.tail) or "(no log yet)")
        log.no_wrap, log.overflow = True, "ellipsis"
        parts: list[Any] = [Panel(steps, title=ui.line(title), title_align="left")]
        parts.append(Panel(log, title="bootstrap.log", title_align="left", style="dim"))
        parts += [ui.line((f"! {note}", "yellow")) for note in self.notes]
        return Group(*parts)

    @staticmethod
    def _row(status: StepStatus, now: datetime) -> tuple[Text, Text, str, Text]:
        """One step's cells; its name and detail come from the VM and are plain text."""
        icon, style = _STYLE.get(status.state, ("?", ""))
        elapsed = _duration(status.elapsed(now))
        return Text(icon, style=style), ui.line(status.name), elapsed, ui.line(status.detail)

    def event(self, event: ProgressEvent, board: ProgressBoard) -> None:
        self.board = board

    def log_line(self, line: str) -> None:
        self.tail.append(line)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def tick(self, board: ProgressBoard) -> None:
        self.board = board
