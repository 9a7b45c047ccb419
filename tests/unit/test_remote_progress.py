"""Progress protocol parsing and the step board, against golden files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scs_testbed.remote.progress import ProgressBoard, ProtocolError, parse_event

GOLDEN = Path(__file__).parent / "golden" / "remote"


def fold(lines: list[str]) -> ProgressBoard:
    board = ProgressBoard()
    for line in lines:
        try:
            board.apply(parse_event(line))
        except ProtocolError:
            board.invalid_lines += 1
    return board


def test_golden_failed_run() -> None:
    board = fold((GOLDEN / "progress_failed.jsonl").read_text().splitlines())
    expected = json.loads((GOLDEN / "progress_failed.expected.json").read_text())
    end = datetime(2024, 5, 1, 10, 3, 32, tzinfo=UTC)
    assert board.outcome == expected["outcome"]
    assert board.failed_step == expected["failed_step"]
    assert board.invalid_lines == expected["invalid_lines"]
    assert board.total_elapsed(end) == expected["total_seconds"]
    steps = [[s.name, s.state, s.elapsed(end), s.detail] for s in board.steps.values()]
    assert steps == expected["steps"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"v":2,"step":"x","state":"start"}', "version"),
        ('{"v":1,"state":"start"}', "step"),
        ('{"v":1,"step":"x","state":"running"}', "state"),
    ],
)
def test_invalid_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_event(line)


def test_running_step_and_done() -> None:
    board = fold(
        [
            '{"v":1,"ts":"2024-05-01T10:00:00Z","step":"docker","state":"start"}',
        ]
    )
    assert [s.name for s in board.running] == ["docker"]
    now = datetime(2024, 5, 1, 10, 0, 42, tzinfo=UTC)
    assert board.steps["docker"].elapsed(now) == 42.0
    board.apply(parse_event('{"v":1,"step":"testbed","state":"done"}'))
    assert board.outcome == "done" and board.failed_step is None


def test_missing_timestamp_is_tolerated() -> None:
    event = parse_event('{"v":1,"step":"a","state":"start","ts":"yesterday"}')
    assert event.ts is None and not event.is_final
    assert parse_event('{"v":1,"step":"testbed","state":"failed"}').is_final


def test_a_run_resumed_after_a_failure_is_followed() -> None:
    """A user fixes the failing source and restarts the bootstrap unit: the old failure stays
    in the progress file, but each run begins with `testbed start`, and the board follows the
    new run to its own end."""
    failed = [
        '{"v":1,"step":"packages","state":"start"}',
        '{"v":1,"step":"packages","state":"failed","detail":"cannot reach the apt mirror"}',
        '{"v":1,"step":"testbed","state":"failed","detail":"packages"}',
    ]
    board = fold(failed)
    assert board.outcome == "failed" and board.failed_step == "packages"
    again = '{"v":1,"step":"testbed","state":"start","detail":"deploy_mode full"}'
    board = fold([*failed, again, '{"v":1,"step":"cloud-init","state":"done"}'])
    assert board.outcome is None and board.failed_step is None
    board.apply(parse_event('{"v":1,"step":"packages","state":"start"}'))
    assert [s.name for s in board.running] == ["packages"]
    board.apply(parse_event('{"v":1,"step":"packages","state":"done"}'))
    board.apply(parse_event('{"v":1,"step":"testbed","state":"done"}'))
    assert board.outcome == "done" and board.failed_step is None
    # a failure of the new run is reported as its own
    board = fold([*failed, again, '{"v":1,"step":"venv","state":"start"}'])
    board.apply(parse_event('{"v":1,"step":"venv","state":"failed","detail":"pip"}'))
    assert board.failed_step == "venv"
