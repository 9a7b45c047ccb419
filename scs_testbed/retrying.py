"""One retry loop for whatever fails transiently: a Terraform run or a cloud call.

An attempt is made again after each failure the caller calls transient, after an announced
wait; `delays` is the budget, one planned wait per retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")


def retried(
    attempt_once: Callable[[int], R],
    reason: Callable[[R], str | None],
    announce: Callable[[int, str, float], None],
    delays: tuple[float, ...],
    *,
    wait: Callable[[R, float], float] = lambda _outcome, planned: planned,
    before_retry: Callable[[int], None] | None = None,
) -> R:
    """The outcome of `attempt_once(attempt)`, made again while `reason(outcome)` names a
    transient failure (None: success, or a failure for good).

    `announce(attempt, reason, seconds)` tells of each wait; `wait(outcome, planned)` may make
    it longer (a Retry-After the failure shows); `before_retry(attempt)` runs after the wait
    (e.g. removing what a lost answer created). Returns the last outcome: a success, a
    failure for good, or the one that used up the budget.
    """
    attempt = 1
    while True:
        outcome = attempt_once(attempt)
        why = reason(outcome)
        if why is None or attempt > len(delays):
            return outcome
        delay = wait(outcome, delays[attempt - 1])
        announce(attempt, why, delay)
        time.sleep(delay)
        attempt += 1
        if before_retry is not None:
            before_retry(attempt)
