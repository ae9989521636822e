"""Best-of-N wall-clock timing with a time budget, so slow types are not repeated for minutes."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], *, repeat: int, budget_s: float) -> float:
    """Seconds of the fastest of up to ``repeat`` calls; stops repeating once ``budget_s`` is spent.

    The minimum is the fairest single figure on a shared machine: other load only ever adds time.
    """
    best = float("inf")
    spent = 0.0
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best = min(best, took)
        spent += took
        if spent >= budget_s:
            break
    return best
