"""polling.poll: asks until an answer, at growing pauses, and once more at the deadline."""

from __future__ import annotations

import pytest

from scs_testbed import polling

pytestmark = pytest.mark.unit


def test_the_first_answer_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(polling.time, "sleep", slept.append)
    answers = iter([None, None, None, "up"])
    assert polling.poll(lambda: next(answers), 60, pauses=(0.5, 1.0, 2.0)) == "up"
    assert slept == [0.5, 1.0, 2.0]  # the pauses grow, then stay at the last one


def test_no_answer_by_the_deadline_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(polling.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(polling.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    asked: list[float] = []

    def ask() -> None:
        asked.append(now[0])

    assert polling.poll(ask, 10, pauses=(3.0,)) is None
    assert asked == [100.0, 103.0, 106.0, 109.0, 110.0]  # the last pause is cut to the deadline


def test_a_stop_ends_the_wait_at_once() -> None:
    """`stop` set during a pause: no further question, even with an hour's pause and no limit."""
    import math
    import threading

    stop = threading.Event()
    asked: list[int] = []

    def ask() -> None:
        asked.append(1)
        threading.Timer(0.05, stop.set).start()

    assert polling.poll(ask, math.inf, pauses=(3600.0,), stop=stop) is None
    assert asked == [1]
