"""Everything the tool shows goes through here: one console for output, one for messages."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from scs_testbed.errors import TestbedError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    """A progress or status message (stderr, so stdout stays clean for data)."""
    err_console.print(message)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}")


def success(message: str) -> None:
    err_console.print(f"[green]✔[/] {message}")


def show_error(error: TestbedError) -> None:
    """One clear red line, then details and what to do."""
    err_console.print(f"[bold red]error:[/] {error.message}", soft_wrap=True)
    for line in error.details:
        err_console.print(f"  {line}", soft_wrap=True, markup=False)
    if error.hint:
        err_console.print(f"[dim]hint:[/] {error.hint}", soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colours, no wrapping."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A Rich table; cells are rendered with str() and no markup interpretation."""
    tbl = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        tbl.add_column(column, overflow="fold")
    for row in rows:
        tbl.add_row(*("" if cell is None else str(cell) for cell in row))
    return tbl


def show(renderable: Any) -> None:
    console.print(renderable)
