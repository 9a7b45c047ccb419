"""How the lifecycle looks on the terminal: steps, the preflight table, Terraform's progress.

Terraform's -json events drive one progress bar (resources done of planned) and one line per
finished resource with its elapsed time; errors name the resource address.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from scs_testbed import ui

if TYPE_CHECKING:
    from scs_testbed.preflight import PreflightReport

VERBS = {
    "create": "created",
    "delete": "destroyed",
    "update": "updated",
    "replace": "replaced",
    "read": "read",
    "noop": "unchanged",
}


def short_address(address: str) -> str:
    return address.removeprefix("module.testbed.")


def preflight_table(report: PreflightReport) -> Any:
    """The preflight report as a table; cloud names and values are shown as plain text."""
    rows = []
    for row in report.rows:
        mark = ("✘", "red") if not row.ok else (("!", "yellow") if row.warning else ("✔", "green"))
        rows.append((row.item, row.needed, row.free, row.quota, row.used, ui.line(mark)))
    return ui.table(
        f"preflight: cloud {report.cloud} ({report.elapsed:.2f} s)",
        ["item", "needed", "free / found", "quota", "used", "ok"],
        rows,
    )


def show_testbeds(rows: list[dict[str, Any]]) -> None:
    """The `list` table; a damaged testbed is one row plus a line saying what is wrong.

    Too narrow a terminal for the table (its cells would be empty or cut to a letter): one
    testbed per line, `name  environment  state`.
    """
    from rich.markup import escape

    columns = ("name", "environment", "cloud", "prefix", "created", "state", "resources")
    if ui.fits(len(columns)):
        ui.show(ui.table(None, columns, [tuple(row.get(c) for c in columns) for row in rows]))
    else:
        for row in rows:
            ui.plain("  ".join(str(row.get(c) or "-") for c in ("name", "environment", "state")))
    for row in rows:
        if row.get("damaged"):
            ui.warn(escape(f"testbed {row['name']} is damaged: {row['damaged']}; {row['hint']}"))


class ConsoleReporter:
    """Renders lifecycle progress on stderr (stdout stays for data such as --json)."""

    def __init__(self, show_preflight: bool = True) -> None:
        self.show_preflight = show_preflight
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None
        self.planned = 0  # planned changes of the running Terraform command
        self.last_planned = 0  # of the one before (a saved plan being applied)

    def _elapsed(self) -> tuple[str, str]:
        return f"{time.monotonic() - self.started:6.1f}s", "dim"

    def step(self, message: str) -> None:
        self._stop_progress()
        ui.info(ui.line(self._elapsed(), " ", ("▶", "bold cyan"), " ", message))

    def note(self, message: str) -> None:
        self._print(ui.line(self._elapsed(), "   ", (message, "dim")))

    def preflight(self, report: PreflightReport) -> None:
        if self.show_preflight:
            ui.err_console.print(preflight_table(report))
        for row in report.rows:
            if row.warning:
                ui.warn(row.message)

    def retry(self, attempt: int, reason: str, delay: float) -> None:
        self._stop_progress()
        ui.warn(f"retrying in {delay:.0f} s: {reason} (attempt {attempt} failed)")

    def terraform_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        hook = event.get("hook") or {}
        address = short_address((hook.get("resource") or {}).get("addr", ""))
        if kind == "version":
            self.last_planned, self.planned = self.planned or self.last_planned, 0
        elif kind == "planned_change":
            self.planned += 1
        elif kind == "change_summary":
            self._print(ui.line(self._elapsed(), "   ", str(event.get("@message", ""))))
        elif kind == "apply_start":
            self._start_progress()
        elif kind == "apply_complete":
            verb = VERBS.get(hook.get("action", ""), hook.get("action", "done"))
            seconds = hook.get("elapsed_seconds", 0)
            self._print(
                ui.line(
                    self._elapsed(),
                    "   ",
                    ("✔", "green"),
                    f" {verb} {address} ",
                    (f"({seconds}s)", "dim"),
                )
            )
            if self.progress is not None:
                self.progress.advance(self.task)
        elif kind == "apply_errored":
            seconds = hook.get("elapsed_seconds", 0)
            self._print(
                ui.line(self._elapsed(), "   ", ("✘", "red"), f" {address} failed after {seconds}s")
            )
        elif kind == "diagnostic":
            diag = event.get("diagnostic", {})
            where = short_address(diag.get("address", "")) if diag.get("address") else ""
            if diag.get("severity") == "error":
                text = f" {where + ': ' if where else ''}{diag.get('summary', '')}"
                detail = " ".join(str(diag.get("detail", "")).split())
                text += f": {detail[:300]}" if detail else ""
                self._print(ui.line(self._elapsed(), "   ", ("error", "red"), text))
        elif kind == "text" and str(event.get("@message", "")).strip():
            self._print(ui.line("            ", (str(event["@message"]), "dim")))

    def finish(self) -> None:
        self._stop_progress()

    def _print(self, text: Text) -> None:
        if self.progress is not None:
            self.progress.console.print(text, soft_wrap=True)
        else:
            ui.err_console.print(text, soft_wrap=True)

    def _start_progress(self) -> None:
        if self.progress is not None or not ui.err_console.is_terminal:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=ui.err_console,
            transient=True,
        )
        self.progress.start()
        total = self.planned or self.last_planned or None
        self.task = self.progress.add_task("resources", total=total)

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
