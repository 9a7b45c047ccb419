"""The Typer application: one module per command group; commands stay thin."""

from __future__ import annotations

import logging
import os
import sys

import typer
from typer._click.exceptions import ClickException  # typer vendors click

from scs_testbed import __version__
from scs_testbed.cli import access, envs, lifecycle, localcloud
from scs_testbed.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_UNEXPECTED, TestbedError

app = typer.Typer(
    name="scs-testbed",
    help="Put a Sovereign Cloud Stack (SCS) testbed onto any OpenStack cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scs-testbed {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="SCS_TESTBED_DEBUG", help="Log every step to stderr."
    ),
) -> None:
    """Put a Sovereign Cloud Stack (SCS) testbed onto any OpenStack cloud."""
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")


envs.register(app)
lifecycle.register(app)
access.register(app)
localcloud.register(app)


def main() -> None:
    """Console entry point: expected errors become one red line and their exit code."""
    from scs_testbed import ui

    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="scs-testbed", standalone_mode=False)
    except TestbedError as error:
        ui.show_error(error)
        sys.exit(error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        ui.err_console.print("[yellow]interrupted[/]")
        sys.exit(EXIT_INTERRUPTED)
    except ClickException as error:
        from typer import rich_utils

        rich_utils.rich_format_error(error)
        sys.exit(error.exit_code if error.exit_code else EXIT_INPUT)
    except Exception as error:  # unexpected: keep the traceback for the bug report
        import traceback

        log_path = _crash_log()
        with open(log_path, "a", encoding="utf-8") as out:
            traceback.print_exc(file=out)
        ui.err_console.print(
            f"[bold red]unexpected error:[/] {type(error).__name__}: {error}", markup=True
        )
        ui.err_console.print(f"[dim]traceback written to {log_path}[/]")
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(code if isinstance(code, int) else 0)


def _crash_log() -> str:
    from scs_testbed.workspace import state_root

    root = state_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.fspath(root / "crash.log")
