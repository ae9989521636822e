"""Short engine calls (probe hardware, search the Hub, compute a recommendation) off the GUI thread.

Long jobs with progress and cancel (conversions, downloads) belong to the job queue; this is for calls
that take from milliseconds to a few seconds. Each call has a key; a newer call under the same key makes
older answers stale, so a slow search can never overwrite the results of the one the user typed last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import QuantpickError

log = logging.getLogger(__name__)


def describe_error(error: BaseException) -> str:
    """One plain sentence pair for a failure: the engine's own wording, else a generic one."""
    if isinstance(error, QuantpickError):
        return str(error)
    return f"Something unexpected went wrong ({type(error).__name__}: {error})."


class _Relay(QObject):
    """Lives in the GUI thread; the worker emits on it, Qt queues delivery to the GUI thread."""

    done = Signal(str, int, object)
    failed = Signal(str, int, object)


class _Call(QRunnable):
    def __init__(self, relay: _Relay, key: str, generation: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._relay, self._key, self._generation, self._fn = relay, key, generation, fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as e:  # noqa: BLE001 - every failure must reach the GUI as a message
            if not isinstance(e, QuantpickError):
                log.exception("background call %r failed", self._key)
            self._emit(self._relay.failed, e)
        else:
            self._emit(self._relay.done, result)

    def _emit(self, signal: Any, value: object) -> None:
        try:
            signal.emit(self._key, self._generation, value)
        except RuntimeError:  # the widget that asked was closed meanwhile: nobody is left to tell
            log.debug("background call %r finished after its receiver was deleted", self._key)


class BackgroundRunner(QObject):
    """Runs callables on a thread pool and reports the latest answer per key on the GUI thread.

    Signals:
        finished(str, object): key and result of the newest call under that key.
        failed(str, object): key and the exception it raised.
        busy_changed(bool): True while any call is running.
    """

    finished = Signal(str, object)
    failed = Signal(str, object)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool if pool is not None else QThreadPool.globalInstance()
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self._latest: dict[str, int] = {}
        self._pending: set[str] = set()
        self._running = 0

    @property
    def busy(self) -> bool:
        return self._running > 0

    def submit(self, key: str, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in the pool; its result arrives as ``finished(key, result)`` unless superseded."""
        generation = self._latest.get(key, 0) + 1
        self._latest[key] = generation
        self._pending.add(key)
        self._running += 1
        if self._running == 1:
            self.busy_changed.emit(True)
        self._pool.start(_Call(self._relay, key, generation, fn))

    def is_pending(self, key: str) -> bool:
        """True while the newest call under ``key`` has not answered yet."""
        return key in self._pending

    def _settle(self, key: str, generation: int) -> bool:
        self._running -= 1
        if self._running == 0:
            self.busy_changed.emit(False)
        if self._latest.get(key) != generation:
            return False
        self._pending.discard(key)
        return True

    def _on_done(self, key: str, generation: int, result: object) -> None:
        if self._settle(key, generation):
            self.finished.emit(key, result)

    def _on_failed(self, key: str, generation: int, error: object) -> None:
        if self._settle(key, generation):
            self.failed.emit(key, error)
