"""What the tool shows: user text is never markup, secrets never shown, JSON strict (issue 8)."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from rich.console import Console

from scs_testbed import ui
from scs_testbed.errors import InputError
from scs_testbed.errors import TestbedError as RootError
from scs_testbed.redact import remember_secret
from scs_testbed.remote import testbed as remote_testbed

HOSTILE = "[/] [bold]x[/bold] [red]"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Both consoles write plain text into one buffer."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, highlight=False, color_system=None)
    monkeypatch.setattr(ui, "console", console)
    monkeypatch.setattr(ui, "err_console", console)
    return buffer


def test_messages_show_user_text_verbatim(captured: io.StringIO) -> None:
    ui.info(HOSTILE)
    ui.warn(HOSTILE)
    ui.success(HOSTILE)
    ui.failure(HOSTILE)
    ui.plain(HOSTILE)
    ui.show(HOSTILE)
    ui.show_error(RootError(HOSTILE, hint=HOSTILE, details=[HOSTILE]))
    lines = captured.getvalue().splitlines()
    assert len(lines) == 9
    assert all(HOSTILE in line for line in lines), lines


def test_tables_show_cells_and_titles_verbatim(captured: io.StringIO) -> None:
    ui.show(ui.table(f"title {HOSTILE}", ["a", HOSTILE], [(HOSTILE, None), (1, 2.5)]))
    text = captured.getvalue()
    assert text.count(HOSTILE) == 3


def test_live_view_shows_remote_text_verbatim(captured: io.StringIO) -> None:
    from scs_testbed.remote.progress import ProgressBoard, parse_event
    from scs_testbed.remote.view import LiveView

    view = LiveView(f"tb{HOSTILE}")
    board = ProgressBoard()
    event = parse_event(
        json.dumps(
            {
                "v": 1,
                "ts": "2024-01-01T00:00:00Z",
                "step": f"s{HOSTILE}",
                "state": "start",
                "detail": HOSTILE,
            }
        )
    )
    board.apply(event)
    view.event(event, board)
    view.log_line(HOSTILE)
    view.note(HOSTILE)
    ui.console.print(view.render())
    assert captured.getvalue().count(HOSTILE) >= 4


def test_secrets_are_redacted_everywhere_shown(
    captured: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    remember_secret("s3cr3t-for-ui-test")
    ui.info("password s3cr3t-for-ui-test")
    ui.show_error(InputError("https://u:pw@example.org failed", hint="s3cr3t-for-ui-test"))
    ui.show(ui.table(None, ["v"], [("s3cr3t-for-ui-test",)]))
    ui.print_json({"v": "s3cr3t-for-ui-test"})
    shown = captured.getvalue() + capsys.readouterr().out
    assert "s3cr3t-for-ui-test" not in shown and ":pw@" not in shown
    assert "***" in shown


def test_print_json_refuses_nan_and_infinity(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(InputError, match="JSON"):
            ui.print_json({"v": [bad]})
    assert capsys.readouterr().out == ""


def test_error_object_has_message_hint_details_and_exit_code() -> None:
    error = InputError("bad", hint="do this", details=["one"])
    assert ui.error_object(error) == {
        "error": {
            "message": "bad",
            "hint": "do this",
            "details": ["one"],
            "kind": "InputError",
            "exit_code": 2,
        }
    }


def test_confirm_without_a_terminal_refuses_instead_of_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a tty
    with pytest.raises(InputError, match="no terminal"):
        ui.confirm("Destroy?")


# --------------------------------------------------------------------------- ssh argv


def test_ssh_argv_ends_ssh_options_before_the_host() -> None:
    argv = remote_testbed.ssh_argv(Path("/w/ssh_config"), "node-1", ["ls", "-oProxyCommand=x"])
    assert argv == ["ssh", "-F", "/w/ssh_config", "--", "node-1", "ls", "-oProxyCommand=x"]


@pytest.mark.parametrize(
    ("host", "command"),
    [
        ("manager", ["-oProxyCommand=touch /tmp/x"]),
        ("manager", ["-oStrictHostKeyChecking=no", "ls"]),
        ("-oProxyCommand=x", []),
        ("manager -o", []),
        ("node-1\n", []),
    ],
)
def test_ssh_argv_refuses_option_looking_words(host: str, command: list[str]) -> None:
    with pytest.raises(InputError):
        remote_testbed.ssh_argv(Path("/w/ssh_config"), host, command)


# --------------------------------------------------------------------------- crash log


def test_crash_log_is_private_and_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: io.StringIO
) -> None:
    from scs_testbed.cli import application as cli

    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    log = tmp_path / "state" / "crash.log"
    log.write_text("older crash\n", encoding="utf-8")
    os.chmod(log, 0o644)  # as older versions left it
    remember_secret("crash-s3cr3t")

    def explode(args: list[str]) -> int:
        raise RuntimeError("boom with crash-s3cr3t and https://u:pw@host/")

    monkeypatch.setattr(cli, "_invoke", explode)
    monkeypatch.setattr(sys, "argv", ["scs-testbed", "list"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    written = log.read_text(encoding="utf-8")
    assert "older crash" in written and "RuntimeError" in written
    shown = captured.getvalue()
    for text in (written, shown):
        assert "crash-s3cr3t" not in text and ":pw@" not in text
    assert "unexpected error: RuntimeError" in shown


def test_new_crash_log_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scs_testbed.cli import application as cli

    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))
    path = Path(cli._write_crash_log("trace\n"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_json_error_for_an_unexpected_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    captured: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scs_testbed.cli import application as cli

    monkeypatch.setenv("SCS_TESTBED_STATE_DIR", str(tmp_path / "state"))

    def explode(args: list[str]) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_invoke", explode)
    monkeypatch.setattr(sys, "argv", ["scs-testbed", "list", "--json"])
    with pytest.raises(SystemExit):
        cli.main()
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["exit_code"] == 1 and "RuntimeError: boom" in error["message"]


def test_a_wait_off_a_terminal_is_one_line_with_what_where_and_the_limit(
    captured: io.StringIO,
) -> None:
    with ui.waiting("the identity service", "https://alice:s3cr3t@keystone.example/v3", 60):
        pass
    with ui.waiting(f"cloud {HOSTILE!r}: flavors", limit=2.5):
        pass
    assert captured.getvalue().splitlines() == [
        "waiting for the identity service at https://alice:***@keystone.example/v3 (up to 60 s)",
        f"waiting for cloud {HOSTILE!r}: flavors (up to 2.5 s)",
    ]


def test_tables_fit_when_each_cell_gets_a_few_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    for width, fits in ((20, False), (63, False), (64, True), (200, True)):
        monkeypatch.setattr(ui, "console", Console(width=width))
        assert ui.fits(7) is fits
