"""Progress reports and cooperative cancellation shared by every long-running engine task.

Workers call a ``ProgressFn`` with a frozen ``Progress`` and check a ``CancelToken`` between chunks; the
GUI adapts both to Qt signals, the CLI prints them. Neither side parses text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from engine.errors import CancelledError


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot: ``done`` of ``total`` bytes, what is being worked on, speed and time left."""

    done: int
    total: int
    current: str
    rate: float  # bytes per second since the start
    eta_s: float | None  # None until the rate is known

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


class ProgressFn(Protocol):
    def __call__(self, progress: Progress) -> None: ...


def ignore_progress(progress: Progress) -> None:
    """A ProgressFn that does nothing."""


class CancelToken:
    """Set from any thread; the worker raises CancelledError at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise CancelledError if cancellation was requested."""
        if self._event.is_set():
            raise CancelledError("The operation was cancelled.")


@dataclass(slots=True)
class ProgressMeter:
    """Turns byte counts into Progress snapshots with rate and ETA."""

    total: int
    report: ProgressFn = ignore_progress
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def advance(self, nbytes: int, current: str) -> None:
        self.done += nbytes
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.report(Progress(self.done, self.total, current, rate, eta))
