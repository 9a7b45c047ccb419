"""The byte-offset follower behind watch, and the views rendering a board."""

from __future__ import annotations

import io

from rich.console import Console

from scs_testbed import ui
from scs_testbed.remote.progress import ProgressBoard, parse_event
from scs_testbed.remote.view import LiveView, PlainView
from scs_testbed.remote.watch import _Follower


def test_follower_hands_on_complete_lines_and_counts_their_bytes() -> None:
    follower = _Follower("/var/log/x.log")
    assert follower.command() == "exec tail -c +1 -F -- /var/log/x.log 2>/dev/null"
    assert follower.feed(b"one\ntw") == ["one"]
    assert follower.offset == 4
    assert follower.feed(b"o\r\nthr") == ["two"]
    assert follower.offset == 9
    follower.pending = b""  # dropped connection: the partial line is read again from offset
    assert follower.command().startswith("exec tail -c +10 ")
    assert follower.feed(b"three\n") == ["three"]


def test_follower_keeps_utf8_split_across_chunks() -> None:
    follower = _Follower("/x")
    data = "grüße ✔\n".encode()
    assert follower.feed(data[:3]) == []
    assert follower.feed(data[3:]) == ["grüße ✔"]
    assert follower.offset == len(data)


def test_follower_quotes_paths() -> None:
    assert "'/tmp/a b'" in _Follower("/tmp/a b").command()


def board() -> ProgressBoard:
    b = ProgressBoard()
    for line in [
        '{"v":1,"ts":"2024-05-01T10:00:00Z","step":"packages","state":"start"}',
        '{"v":1,"ts":"2024-05-01T10:01:00Z","step":"packages","state":"done"}',
        '{"v":1,"ts":"2024-05-01T10:01:00Z","step":"docker","state":"start"}',
    ]:
        b.apply(parse_event(line))
    return b


def test_live_view_renders_steps_and_log_tail(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    console = Console(file=io.StringIO(), width=100, record=True)
    monkeypatch.setattr(ui, "console", console)
    view = LiveView("tb")
    view.tick(board())
    view.log_line("TASK [docker : install] [bold]not markup[/]")
    console.print(view.render())
    out = console.export_text()
    assert "packages" in out and "1:00" in out and "docker" in out
    assert "[bold]not markup[/]" in out


def test_plain_view_prints_one_line_per_event(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    console = Console(file=io.StringIO(), width=200, record=True)
    monkeypatch.setattr(ui, "console", console)
    b = board()
    view = PlainView("tb")
    view.event(parse_event('{"v":1,"step":"docker","state":"failed","detail":"x"}'), b)
    view.log_line("E: [red]boom[/]")
    out = console.export_text()
    assert "== docker failed" in out and "— x" in out
    assert "E: [red]boom[/]" in out


def test_live_view_runs_in_a_terminal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True)
    monkeypatch.setattr(ui, "console", console)
    with LiveView("tb") as view:
        view.tick(board())
        view.log_line("pulling image")
        view.note("connection lost; reconnecting")
        view.live.refresh()
    text = out.getvalue()
    assert "pulling image" in text and "reconnecting" in text and "testbed tb" in text


class FakeUnitConnection:
    """Answers `systemctl show` for the bootstrap unit with the given property sets in turn."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.commands: list[str] = []

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        self.commands.append(command)
        return 0, self.answers.pop(0), ""


def test_bootstrap_unit_ended_without_done_fails_on_the_second_look() -> None:
    import pytest

    from scs_testbed.errors import RemoteError
    from scs_testbed.remote.watch import _check_bootstrap_unit, _State

    ended = "LoadState=loaded\nActiveState=inactive\nJob=\n"
    running = "LoadState=loaded\nActiveState=active\nJob=\n"
    state = _State()
    conn = FakeUnitConnection(ended, running, ended, ended)
    _check_bootstrap_unit(conn, "scs-testbed-bootstrap.service", state)  # type: ignore[arg-type]
    _check_bootstrap_unit(conn, "scs-testbed-bootstrap.service", state)  # type: ignore[arg-type]
    _check_bootstrap_unit(conn, "scs-testbed-bootstrap.service", state)  # type: ignore[arg-type]
    with pytest.raises(RemoteError, match="ended \\(inactive\\) without reporting"):
        _check_bootstrap_unit(conn, "scs-testbed-bootstrap.service", state)  # type: ignore[arg-type]
    assert "systemctl show" in conn.commands[0]


def test_bootstrap_unit_unknown_or_queued_is_not_an_end() -> None:
    from scs_testbed.remote.watch import _check_bootstrap_unit, _State

    state = _State()
    unknown = "LoadState=not-found\nActiveState=inactive\nJob=\n"
    queued = "LoadState=loaded\nActiveState=inactive\nJob=42\n"
    conn = FakeUnitConnection(unknown, unknown, queued, queued, "")
    for _ in range(5):
        _check_bootstrap_unit(conn, "u", state)  # type: ignore[arg-type]
    assert state.unit_ended_seen == 0
