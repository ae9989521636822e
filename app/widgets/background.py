"""Short engine calls (probe hardware, search the Hub, compute a recommendation) off the GUI thread.

Long jobs with progress and cancel (conversions, downloads) belong to the job queue; this is for calls
that take from milliseconds to a few seconds. Each call has a key; a newer call under the same key makes
older answers stale, so a slow search can never overwrite the results of the one the user typed last.

Workers never touch the widget that asked: they emit on one relay object that lives in the GUI thread
for the whole process, and the relay hands the answer to the runner only if the runner still exists.
A window closed while a call runs therefore cannot be reached from a worker thread half-destroyed.

Rule for callers: a submitted callable must not capture a widget (no ``self`` of a QWidget). The pool
drops the callable on the worker thread; if that held the last reference to a widget, the widget would
be destroyed there, and Qt objects destroyed off their thread leave dangling timers behind.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import QuantpickError

log = logging.getLogger(__name__)


def describe_error(error: BaseException) -> str:
    """One plain sentence pair for a failure: the engine's own wording, else a generic one."""
    if isinstance(error, QuantpickError):
        return str(error)
    return f"Something unexpected went wrong ({type(error).__name__}: {error})."


_NETWORK_POOL: QThreadPool | None = None


def network_pool() -> QThreadPool:
    """A pool for calls that wait on the network, so a slow Hub never delays local computations
    (which use Qt's global pool, sized to the CPU count)."""
    global _NETWORK_POOL
    if _NETWORK_POOL is None:
        _NETWORK_POOL = QThreadPool()
        _NETWORK_POOL.setMaxThreadCount(4)
    return _NETWORK_POOL


class LazyClient:
    """A client object (e.g. engine.hub.HubClient) built on first use, by whichever worker thread asks first.

    Plain Python, so callables given to a runner can capture it instead of a widget.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any | None = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client


class _Relay(QObject):
    """The one object workers emit on; created by the first runner, in the GUI thread, never deleted."""

    done = Signal(int, str, int, object)
    failed = Signal(int, str, int, object)

    def __init__(self) -> None:
        super().__init__()
        self.runners: weakref.WeakValueDictionary[int, BackgroundRunner] = weakref.WeakValueDictionary()
        self.done.connect(self._on_done)
        self.failed.connect(self._on_failed)

    def _runner(self, runner_id: int) -> BackgroundRunner | None:
        runner = self.runners.get(runner_id)
        return runner if runner is not None and shiboken6.isValid(runner) else None

    def _on_done(self, runner_id: int, key: str, generation: int, result: object) -> None:
        if (runner := self._runner(runner_id)) is not None:
            runner._on_done(key, generation, result)

    def _on_failed(self, runner_id: int, key: str, generation: int, error: object) -> None:
        if (runner := self._runner(runner_id)) is not None:
            runner._on_failed(key, generation, error)


_RELAY: _Relay | None = None
_RUNNER_IDS = itertools.count(1)


def _relay() -> _Relay:
    global _RELAY
    if _RELAY is None:
        _RELAY = _Relay()
    return _RELAY


class _Call(QRunnable):
    def __init__(self, relay: _Relay, runner_id: int, key: str, generation: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._relay, self._runner_id, self._key, self._generation, self._fn = relay, runner_id, key, generation, fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as e:  # noqa: BLE001 - every failure must reach the GUI as a message
            if not isinstance(e, QuantpickError):
                log.exception("background call %r failed", self._key)
            self._relay.failed.emit(self._runner_id, self._key, self._generation, e)
        else:
            self._relay.done.emit(self._runner_id, self._key, self._generation, result)


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
        self._id = next(_RUNNER_IDS)
        _relay().runners[self._id] = self
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
        self._pool.start(_Call(_relay(), self._id, key, generation, fn))

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
