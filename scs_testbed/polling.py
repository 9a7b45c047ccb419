"""Waiting for something to happen: ask again and again, at growing pauses, until a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Short pauses first (what is waited for often comes within seconds), then at most 5 s apart.
PAUSES: tuple[float, ...] = (0.5, 1.0, 1.0, 2.0, 3.0, 5.0)


def poll(
    ask: Callable[[], T | None],
    limit: float,
    pauses: Sequence[float] = PAUSES,
    stop: threading.Event | None = None,
) -> T | None:
    """Call `ask` until it answers something other than None; None when `limit` seconds passed
    or `stop` was set (a pause under way ends at once).

    `ask` is called at least once, and once more at the deadline; the pauses between calls
    follow `pauses` and then stay at its last one.
    """
    deadline = time.monotonic() + limit
    step = 0
    while True:
        answer = ask()
        if answer is not None:
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(pauses[min(step, len(pauses) - 1)] if pauses else 0.0, left)
        if stop is None:
            time.sleep(pause)
        elif stop.wait(pause):
            return None
        step += 1
