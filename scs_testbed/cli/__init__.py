"""The command line: the Typer application (`application`) and one module per command group.

Command modules parse, call one function of the core and render; they import `cli.options`
and each other, never the application, which imports them to register their commands.
`app` and `main` are loaded from `application` on first use (PEP 562), so that importing a
command module does not run the application that imports it: no loop through this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_testbed.cli.application import app, main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from scs_testbed.cli import application

    return getattr(application, name)
