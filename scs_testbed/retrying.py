"""One retry loop for whatever fails transiently: a Terraform run or a cloud call.

An attempt is made again after each failure the caller calls transient, after an announced wait.
`delays` is the budget, one planned wait per retry. An attempt that got further than the one
before it (`progress`, higher is further) costs none of that budget and is followed by the
shortest wait: a flaky cloud that lets the work advance is worth staying with. MAX_ATTEMPTS
bounds the attempts in all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

MAX_ATTEMPTS = 20


def retried(
    attempt_once: Callable[[int], R],
    reason: Callable[[R], str | None],
    announce: Callable[[int, str, float], None],
    delays: tuple[float, ...],
    *,
    wait: Callable[[R, float], float] = lambda _outcome, planned: planned,
    before_retry: Callable[[int], None] | None = None,
    progress: Callable[[], int | None] | None = None,
) -> R:
    """The outcome of `attempt_once(attempt)`, made again while `reason(outcome)` names a
    transient failure (None: success, or a failure for good).

    `announce(attempt, reason, seconds)` tells of each wait; `wait(outcome, planned)` may make
    it longer (a Retry-After the failure shows); `before_retry(attempt)` runs after the wait
    (e.g. removing what a lost answer created); `progress()` is None when not known now.
    Returns the last outcome: a success, a failure for good, or the one that used up the budget.
    """
    attempt, spent = 1, 0  # spent: retries after attempts that got nowhere
    reached = progress() if progress is not None else None
    while True:
        outcome = attempt_once(attempt)
        why = reason(outcome)
        if why is None:
            return outcome
        now = progress() if progress is not None else None
        advanced = now is not None and reached is not None and now > reached
        reached = now if now is not None else reached
        spent += 0 if advanced else 1
        if spent > len(delays) or attempt >= MAX_ATTEMPTS:
            return outcome
        delay = wait(outcome, delays[0 if advanced else spent - 1])
        announce(attempt, why + (" (it got further)" if advanced else ""), delay)
        time.sleep(delay)
        attempt += 1
        if before_retry is not None:
            before_retry(attempt)
