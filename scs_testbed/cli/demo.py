"""The demo: check, deploy, pinned host keys, ssh, watch, tunnel, destroy (scs_testbed.demo)."""

from __future__ import annotations

from typing import Annotated

import typer

from scs_testbed.cli.options import Record, non_empty_name, recorded


def demo(
    name: Annotated[
        str,
        typer.Option("--name", "-n", help="The demo testbed's name.", callback=non_empty_name),
    ] = "demo",
    boots: Annotated[
        bool,
        typer.Option(
            "--boots/--no-boot",
            help="The cloud's servers boot (the local cloud's nspawn driver); --no-boot shows "
            "only the Terraform side: check, deploy, status, destroy.",
        ),
    ] = True,
    record: Record = None,
) -> None:
    """Show the whole flow on the local cloud, as steps with the destroy in `finally`."""
    if record is not None:
        raise recorded(record, name)
    from scs_testbed import ui
    from scs_testbed.demo import Demo, run_demo

    seen = run_demo(Demo(name, say=lambda title: ui.info(f"\n==> {title}", "bold cyan")), boots)
    watch = seen["codes"].get("watch")
    if watch is not None:
        ui.info(f"watch exited {watch} (5: the bootstrap stopped at the step named above)")
    if seen["http_bytes"]:
        ui.info(f"{seen['http_bytes']} bytes came from node-1 through the tunnel")
    ui.success(f"demo done: testbed {name} destroyed; the local cloud keeps running")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command()(demo)
