"""SIGTERM is Ctrl-C: the handler the application installs, and which of the two it was.

Kept apart from the application (`cli/__init__`) so that a command (ci, which tells its
children the signal it got) can ask without importing the application that imports it.
"""

from __future__ import annotations

terminated: list[int] = []  # set by the SIGTERM handler: which message and exit code


def on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM is Ctrl-C: the running step gets KeyboardInterrupt, so a Terraform child is
    sent SIGINT and waited for (runner.stream), the testbed is recorded "interrupted", and
    nothing is left orphaned. A second SIGTERM interrupts that wait (the child is killed)."""
    terminated.append(signum)
    raise KeyboardInterrupt


def interrupt_name() -> str:
    """The signal that interrupted the command: SIGTERM, else SIGINT (Ctrl-C)."""
    return "SIGTERM" if terminated else "SIGINT"
