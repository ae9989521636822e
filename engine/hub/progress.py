"""Download progress and cancellation, fed by a tqdm subclass that huggingface_hub drives.

huggingface_hub reports bytes only through ``tqdm_class``; our subclass never draws a bar. It forwards
each chunk to a ``TransferMeter``, which turns bytes into engine ``Progress`` snapshots (bytes, rate,
ETA) for a plain callback, and it raises ``CancelledError`` between chunks once cancellation is asked
for, which aborts the transfer and leaves the partial file to resume from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from huggingface_hub.utils import tqdm as hf_tqdm

from engine.errors import CancelledError
from engine.progress import CancelToken, Progress, ProgressFn, ignore_progress

CancelLike = CancelToken | threading.Event | Callable[[], bool] | None


def cancel_check(cancel: CancelLike) -> Callable[[], bool]:
    """A no-argument callable that says whether to stop, whatever form the caller passed."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, CancelToken):
        return lambda: cancel.cancelled
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def raise_if_cancelled(should_cancel: Callable[[], bool]) -> None:
    if should_cancel():
        raise CancelledError("The download was cancelled.",
                             "What was downloaded so far is kept; start it again to resume.")


class TransferMeter:
    """Bytes done across every file of one download, with rate and ETA.

    The rate counts only bytes moved in this session (resumed bytes arrive instantly and would
    inflate it); ``clock`` is injectable so tests control time.
    """

    def __init__(self, total: int, report: ProgressFn = ignore_progress,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.report = report
        self.clock = clock
        self.label = ""
        self._finished = 0  # bytes of files already complete
        self._file_done = 0  # bytes of the current file on disk
        self._moved = 0  # bytes transferred in this session
        self._started: float | None = None

    @property
    def done(self) -> int:
        return self._finished + self._file_done

    @property
    def moved(self) -> int:
        """Bytes actually transferred in this session (not counting resumed ones)."""
        return self._moved

    def begin_file(self, label: str) -> None:
        self.label = label
        self._file_done = 0

    def start_transfer(self, initial: int) -> None:
        """A transfer of the current file starts with ``initial`` bytes already on disk."""
        self._file_done = initial
        if self._started is None:
            self._started = self.clock()
        self._emit()

    def advance(self, nbytes: int) -> None:
        self._file_done += nbytes
        self._moved += nbytes
        self._emit()

    def end_file(self, size: int) -> None:
        self._finished += size
        self._file_done = 0
        self._emit()

    def _emit(self) -> None:
        elapsed = self.clock() - self._started if self._started is not None else 0.0
        rate = self._moved / elapsed if elapsed > 0 else 0.0
        remaining = max(self.total - self.done, 0)
        eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 else None)
        self.report(Progress(self.done, self.total, self.label, rate, eta))


def quiet_tqdm() -> type[hf_tqdm]:
    """A tqdm class that draws nothing, for small fetches (config.json) that need no progress."""
    return hook_tqdm(TransferMeter(0), lambda: False)


def hook_tqdm(meter: TransferMeter, should_cancel: Callable[[], bool]) -> type[hf_tqdm]:
    """A tqdm class for ``tqdm_class=`` that reports to ``meter`` and checks ``should_cancel``."""

    class _HookTqdm(hf_tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # we report through the meter, never to the terminal
            super().__init__(*args, **kwargs)
            raise_if_cancelled(should_cancel)
            meter.start_transfer(int(kwargs.get("initial") or 0))

        def update(self, n: float | None = 1) -> bool | None:
            raise_if_cancelled(should_cancel)  # before the chunk is written: the partial file stays whole
            meter.advance(int(n or 0))
            return super().update(n)

    return _HookTqdm
