"""Commands of this group are added by their issue; register() wires them into the app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
