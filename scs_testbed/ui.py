"""Everything the tool shows goes through here: one console for output, one for messages.

Text from outside the program (names, paths, -o keys, file contents, cloud and remote
answers, error messages) is data, never Rich markup: every function here takes plain strings
and shows them as they are. Only the program's own fixed words carry a style, given as
`(text, style)` parts to `line()`. Everything shown passes through `redact()`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from scs_testbed.errors import InputError, TestbedError
from scs_testbed.redact import redact

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

Part = str | tuple[str, str] | Text


def line(*parts: Part) -> Text:
    """One line assembled from plain strings and `(text, style)` pairs; never parsed as markup."""
    text = Text()
    for part in parts:
        if isinstance(part, Text):
            text.append_text(part)
        elif isinstance(part, tuple):
            text.append(redact(part[0]), style=part[1])
        else:
            text.append(redact(part))
    return text


def _as_text(message: str | Text) -> Text:
    return message if isinstance(message, Text) else line(message)


def info(message: str | Text, style: str | None = None) -> None:
    """A progress or status message (stderr, so stdout stays clean for data)."""
    text = _as_text(message)
    if style:
        text.stylize(style)
    err_console.print(text, soft_wrap=True)


def warn(message: str | Text) -> None:
    """A warning line on stderr."""
    err_console.print(line(("warning:", "yellow"), " ", _as_text(message)), soft_wrap=True)


def success(message: str | Text) -> None:
    """A line saying something worked (stderr)."""
    err_console.print(line(("✔", "green"), " ", _as_text(message)), soft_wrap=True)


def failure(message: str | Text) -> None:
    """A line saying one item failed, when the command goes on (stderr)."""
    err_console.print(line(("✘", "red"), " ", _as_text(message)), soft_wrap=True)


def plain(text: str, *, err: bool = False) -> None:
    """A line of foreign text exactly as it is (a log line, a remote's output)."""
    (err_console if err else console).print(line(text), soft_wrap=True)


def raw(text: str) -> None:
    """Terminal output exactly as it is, control sequences included (a recording's)."""
    console.file.write(text)
    console.file.flush()


def show_error(error: TestbedError, style: str | None = None) -> None:
    """One clear red line, then details and what to do (`style`: the whole line, no label)."""
    first = (
        line((error.message, style)) if style else line(("error:", "bold red"), " ", error.message)
    )
    err_console.print(first, soft_wrap=True)
    for detail in error.details:
        err_console.print(line(f"  {detail}"), soft_wrap=True)
    if error.hint:
        err_console.print(line(("hint:", "dim"), " ", error.hint), soft_wrap=True)


def error_object(error: TestbedError) -> dict[str, Any]:
    """The JSON form of an error for --json: `{"error": {...}}` (secrets redacted)."""
    return {
        "error": {
            "message": redact(error.message),
            "hint": redact(error.hint) if error.hint else None,
            "details": [redact(str(d)) for d in error.details],
            "kind": type(error).__name__,
            "exit_code": error.exit_code,
        }
    }


def print_json(data: Any) -> None:
    """Machine-readable output: strict JSON on stdout (no NaN/Infinity), secrets redacted."""
    try:
        text = json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False)
    except ValueError as error:  # a NaN or infinity somewhere: refuse rather than emit non-JSON
        raise InputError(
            f"cannot write JSON: {error}",
            hint="a value is NaN or infinite; numbers must be finite",
        ) from error
    sys.stdout.write(redact(text) + "\n")
    sys.stdout.flush()


def cell(value: Any) -> Text:
    """A table cell or title: str() of the value, as plain text."""
    if isinstance(value, Text):
        return value
    return line("" if value is None else str(value))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A Rich table; cells and title are rendered with str() and no markup interpretation."""
    tbl = Table(
        title=cell(title) if title is not None else None,
        title_justify="left",
        header_style="bold",
    )
    for column in columns:
        tbl.add_column(cell(column), overflow="fold")
    for row in rows:
        tbl.add_row(*(cell(c) for c in row))
    return tbl


def fits(columns: int, cell: int = 6) -> bool:
    """Whether a table of `columns` columns shows at least `cell` characters of each cell.

    Below that width Rich still draws the table, with its cells empty or cut to a letter:
    show the records as lines instead.
    """
    # per cell a border and two spaces of padding; one border closes the row
    return console.width >= columns * (cell + 3) + 1


def show(renderable: Any) -> None:
    """Print a renderable (a table, a Text) on stdout; a plain string is shown as text."""
    console.print(line(renderable) if isinstance(renderable, str) else renderable)


def can_ask() -> bool:
    """Whether there is a terminal to ask the user on (stdin may be closed or a file)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):  # a closed stream
        return False


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal; no (or end of input) means no.

    Without a terminal there is nobody to ask: raises InputError so that nothing waits on a
    closed stdin. Ctrl-C propagates as KeyboardInterrupt.
    """
    if not can_ask():
        raise InputError(
            "confirmation needed, but there is no terminal to ask",
            hint="pass --yes to proceed without asking",
        )
    err_console.print(line(question, " [y/N] "), end="")
    try:
        answer = input()
    except EOFError:
        err_console.print()
        return False
    return answer.strip().lower() in ("y", "yes")


class _Waited:
    """The status line's text: what is waited for, and for how long so far (re-rendered)."""

    def __init__(self, text: Text) -> None:
        self.text = text
        self.started = time.monotonic()

    def __rich__(self) -> Text:
        waited = time.monotonic() - self.started
        return Text.assemble(self.text, (f"  {int(waited)} s", "dim"))


@contextmanager
def waiting(what: str, where: str | None = None, limit: float | None = None) -> Iterator[None]:
    """Say, while the block runs, what the program waits for, where, and for how long at most.

    On a terminal: a status line on stderr (a spinner and the seconds waited) that goes away
    when the block ends. Otherwise exactly one plain line on stderr as the wait begins, e.g.
    `waiting for the identity service at https://keystone.example/v3 (up to 60 s)`.
    """
    text = line("waiting for ", what)
    if where:
        text.append_text(line(" at ", where))
    if limit is not None:
        text.append_text(line(f" (up to {limit:g} s)"))
    status = None
    if err_console.is_terminal and not err_console.is_dumb_terminal:
        from rich.errors import LiveError

        status = err_console.status(_Waited(text), spinner="dots")
        try:
            status.start()
        except LiveError:  # another live display on this console (Rich before 14)
            status = None
    if status is None:
        err_console.print(text, soft_wrap=True)
    try:
        yield
    finally:
        if status is not None:
            status.stop()
