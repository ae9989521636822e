"""The message bridge: logic reports through ``logging``, the UI listens on one QObject.

Every log record of the app and the engine becomes a ``LogEntry`` posted to the bridge, from any thread.
Entries posted before the UI has connected (start-up, the first hardware probe) are cached and replayed
by ``flush()``, so nothing said early is lost. ``info``/``warning``/``error`` mark an entry as meant for
the user (the window shows those in its status bar as well as in the log pane).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

MAX_CACHED = 2000
_USER_LOGGER = logging.getLogger("quantpick.message")
_WATCHED_LOGGERS = ("app", "engine", "quantpick")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the log.

    Attributes:
        level: A ``logging`` level number (DEBUG 10 .. CRITICAL 50).
        text: The message, formatted.
        logger: Who said it (a dotted module name).
        created: ``time.time()`` when it was said.
        details: A traceback or technical detail, empty if none.
        user_facing: Said to the user on purpose (``info``/``warning``/``error`` below).
    """

    level: int
    text: str
    logger: str
    created: float
    details: str = ""
    user_facing: bool = False

    @property
    def level_name(self) -> str:
        return logging.getLevelName(self.level).capitalize()

    @classmethod
    def from_record(cls, record: logging.LogRecord) -> LogEntry:
        details = getattr(record, "details", "") or ""
        if record.exc_info and record.exc_info[1] is not None:
            details = "".join(traceback.format_exception(*record.exc_info))
        return cls(record.levelno, record.getMessage(), record.name, record.created, details,
                   bool(getattr(record, "user_facing", False)))


class MessageBridge(QObject):
    """Delivers log entries to the UI, holding them back until the UI is ready.

    Signals:
        entry_posted(object): a LogEntry; queued to the GUI thread when posted from another thread.
    """

    entry_posted = Signal(object)

    def __init__(self, parent: QObject | None = None, *, max_cached: int = MAX_CACHED) -> None:
        super().__init__(parent)
        self._lock = threading.RLock()
        self._cache: deque[LogEntry] = deque(maxlen=max_cached)
        self._flushed = False

    def post(self, entry: LogEntry) -> None:
        """Send ``entry`` now if the UI is connected, else keep it for ``flush``; any thread."""
        with self._lock:
            if not self._flushed:
                self._cache.append(entry)
                return
        self.entry_posted.emit(entry)

    def flush(self) -> None:
        """The UI is connected: replay what was cached, then deliver directly from now on."""
        with self._lock:
            pending = list(self._cache)
            self._cache.clear()
            self._flushed = True
        for entry in pending:
            self.entry_posted.emit(entry)


class BridgeHandler(logging.Handler):
    """A logging handler that posts every record to a bridge."""

    def __init__(self, bridge: MessageBridge, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self._bridge = bridge

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._bridge.post(LogEntry.from_record(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


_global: MessageBridge | None = None
_global_lock = threading.Lock()


def global_bridge() -> MessageBridge:
    """The application's bridge, created on first use."""
    global _global
    with _global_lock:
        if _global is None:
            _global = MessageBridge()
        return _global


def install_handler(bridge: MessageBridge | None = None, *, level: int = logging.DEBUG) -> BridgeHandler:
    """Route the app's and the engine's loggers into ``bridge`` (default: the global one)."""
    handler = BridgeHandler(bridge or global_bridge(), level)
    for name in _WATCHED_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or logging.DEBUG, level))
    return handler


def remove_handler(handler: BridgeHandler) -> None:
    for name in _WATCHED_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def _say(level: int, text: str, details: str) -> None:
    _USER_LOGGER.log(level, text, extra={"user_facing": True, "details": details})


def info(text: str, *, details: str = "") -> None:
    """Tell the user something worth knowing (a job finished, a file was found)."""
    _say(logging.INFO, text, details)


def warning(text: str, *, details: str = "") -> None:
    """Tell the user something may not be what they expect."""
    _say(logging.WARNING, text, details)


def error(text: str, *, details: str = "") -> None:
    """Tell the user something failed, in plain words; ``details`` holds the technical part."""
    _say(logging.ERROR, text, details)
