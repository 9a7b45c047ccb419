"""replay: play a recording made with --record (scs_testbed.recorder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def replay(
    cast: Annotated[Path, typer.Argument(metavar="FILE.cast", help="A recording (--record).")],
    speed: Annotated[float, typer.Option(help="Play this many times faster.")] = 1.0,
    idle_limit: Annotated[
        float | None,
        typer.Option(
            "--idle-limit",
            metavar="SECONDS",
            help="Squeeze every longer wait to this many seconds (of the recording).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="STEP", help="Stop once watch shows this bootstrap step."),
    ] = None,
) -> None:
    """Play a recording in the terminal; long waits squeezed with --idle-limit; Ctrl-C stops."""
    from scs_testbed import ui
    from scs_testbed.recorder import plan_replay, replay

    replay(plan_replay(cast, speed, idle_limit, until), ui.raw)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command()(replay)
