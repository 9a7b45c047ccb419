"""The Typer application: the commands of every command group, and the entry point that
turns errors, Ctrl-C and SIGTERM into one line and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import NoReturn

import typer
from typer._click.exceptions import ClickException  # typer vendors click

from scs_testbed import __version__
from scs_testbed.cli import (
    access,
    ci,
    demo,
    envs,
    lifecycle,
    localcloud,
    porting,
    recording,
    signals,
    smoke,
)
from scs_testbed.errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_UNEXPECTED,
    InputError,
    TestbedError,
)

# 128 + SIGPIPE: what a shell reports for a writer whose reader went away
EXIT_BROKEN_PIPE = 141

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
    from scs_testbed.redact import install_log_redaction

    install_log_redaction()  # before anything logs: records of every logger are masked
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
        for handler in logging.getLogger().handlers:  # debug logs carry URLs, argv, bodies
            handler.setFormatter(_RedactingFormatter(handler.formatter))


class _RedactingFormatter(logging.Formatter):
    """Formats as `inner` does, then masks secrets (redact)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        from scs_testbed.redact import redact

        return redact(self.inner.format(record))


envs.register(app)
lifecycle.register(app)
access.register(app)
localcloud.register(app)
porting.register(app)
smoke.register(app)
ci.register(app)
demo.register(app)
recording.register(app)


# What a Ctrl-C leaves behind, by command (the default: nothing was changed).
INTERRUPTED_LEAVES = {
    "deploy": "the testbed may be half-built; Terraform kept its state: run the same "
    "`scs-testbed deploy` again to finish it, or `scs-testbed destroy` to remove it",
    "destroy": "the testbed may be partly destroyed; Terraform kept its state: run "
    "`scs-testbed destroy` again to finish",
    "plan": "nothing was created in the cloud",
    "watch": "the testbed itself is not affected; `scs-testbed watch` follows it again",
    "tunnel": "if a tunnel still runs, `scs-testbed tunnel --stop` stops it",
    "smoke": "the smoke run stopped; its workload (if one was started) is removed by the "
    "checks' teardown: a leftover carries the name <prefix>-smoke-*",
    "localcloud": "the local cloud may be partly started or stopped: "
    "`scs-testbed localcloud status` shows which services run",
}


def main() -> None:
    """Console entry point: expected errors become one red line and their exit code.

    With --json an error is also a JSON object on stdout: `{"error": {...}}`.
    """
    args = sys.argv[1:]
    as_json = "--json" in _options_part(args)
    signal.signal(signal.SIGTERM, signals.on_sigterm)
    try:
        code = _invoke(args)
    except TestbedError as error:
        _fail(error, as_json)
    except (typer.Abort, KeyboardInterrupt):
        what = INTERRUPTED_LEAVES.get(_command_name(args), "nothing was changed")
        if signals.terminated:
            _fail(Terminated(f"terminated (SIGTERM): {what}"), as_json)
        _fail(Interrupted(f"interrupted by Ctrl-C: {what}"), as_json)
    except ClickException as error:
        _click_error(error, as_json)
    except BrokenPipeError:
        # the reader went away (`scs-testbed list | head`): nothing left to say to it, and
        # Python would complain about the pipe again when flushing stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as error:  # unexpected: keep the traceback for the bug report
        _crash(error, as_json)
    sys.exit(code)


def _invoke(args: list[str]) -> int:
    """Run the command; return its exit code. Errors and Ctrl-C propagate to main().

    Typer's own main() turns KeyboardInterrupt into a silent exit 130; we want to say what a
    Ctrl-C left behind, so this does its work (completion, context, invoke) without that.
    """
    command = typer.main.get_command(app)
    _flow_first_paragraphs(command)
    command._main_shell_completion({}, "scs-testbed", None)  # exits when the shell completes
    try:
        with command.make_context("scs-testbed", args) as ctx:
            command.invoke(ctx)
    except typer.Exit as done:  # --help, --version, typer.Exit(code)
        return int(done.exit_code or 0)
    return 0


def _flow_first_paragraphs(group: object) -> None:
    """Docstrings break their lines where the source does, and Typer's rich help keeps those
    breaks: a command's first paragraph (its line in the list of commands) is made one line
    again, which the help then wraps at the terminal's width."""
    for command in (getattr(group, "commands", None) or {}).values():
        if command.help:
            first, blank, rest = command.help.partition("\n\n")
            command.help = " ".join(first.split()) + blank + rest
        _flow_first_paragraphs(command)


class Interrupted(TestbedError):
    """Ctrl-C: the user stopped the command."""

    exit_code = EXIT_INTERRUPTED


class Terminated(Interrupted):
    """SIGTERM (a cancelled CI job, `kill`): handled as Ctrl-C, exit 143 (128 + 15)."""

    exit_code = EXIT_TERMINATED


def _fail(error: TestbedError, as_json: bool) -> NoReturn:
    from scs_testbed import ui

    if as_json:
        ui.print_json(ui.error_object(error))
    ui.show_error(error, "yellow" if isinstance(error, Interrupted) else None)
    sys.exit(error.exit_code)


def _click_error(error: ClickException, as_json: bool) -> NoReturn:
    """A bad option or argument (click's parsing): one line, exit 2, JSON too when asked."""
    if error.__class__.__name__ == "NoArgsIsHelpError":  # typer has shown the help already
        sys.exit(error.exit_code if error.exit_code else EXIT_INPUT)
    ctx = getattr(error, "ctx", None)
    hint = f"see `{ctx.command_path} --help`" if ctx is not None else "see `scs-testbed --help`"
    wrapped = InputError(error.format_message(), hint=hint)
    wrapped.exit_code = error.exit_code if error.exit_code else EXIT_INPUT
    _fail(wrapped, as_json)


def _crash(error: Exception, as_json: bool) -> NoReturn:
    """An unexpected error: one redacted line, the traceback in a private crash log."""
    import traceback

    from scs_testbed import ui
    from scs_testbed.redact import redact

    detail = f"{type(error).__name__}: {error}"
    try:
        log_path = _write_crash_log(redact(traceback.format_exc()))
        hint = f"traceback written to {log_path}; please include it in a bug report"
    except OSError as log_error:
        hint = f"the traceback could not be written either ({log_error})"
    if as_json:
        ui.print_json(ui.error_object(TestbedError(f"unexpected error: {detail}", hint=hint)))
    ui.err_console.print(ui.line(("unexpected error:", "bold red"), " ", detail), soft_wrap=True)
    ui.err_console.print(ui.line((hint, "dim")), soft_wrap=True)
    sys.exit(EXIT_UNEXPECTED)


def _write_crash_log(text: str) -> str:
    """Append to <state>/crash.log, created (and kept) private: tracebacks can hold local data.

    The state root and any parent it lacks are created 0700. When the state directory is not
    usable (a file, read-only), the traceback goes to a new private temp file instead.
    """
    import tempfile

    from scs_testbed.state_dir import ensure_private_dir, private_file_for_append, state_root

    try:
        path = ensure_private_dir(state_root()) / "crash.log"
        with private_file_for_append(path) as out:  # an older crash.log is tightened to 0600
            out.write(text)
        return os.fspath(path)
    except OSError:
        fd, temp = tempfile.mkstemp(prefix="scs-testbed-crash-", suffix=".log")  # 0600
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        return temp


def _options_part(args: list[str]) -> list[str]:
    """The arguments before `--` (after it everything is data, e.g. a remote command)."""
    return args[: args.index("--")] if "--" in args else args


def _command_name(args: list[str]) -> str:
    """The command's name: the first argument that is not an option of the program."""
    return next((a for a in _options_part(args) if not a.startswith("-")), "")
