"""The message bridge: log records from any thread reach the UI, in order, even if said before it connected."""

from __future__ import annotations

import logging
import threading

import pytest

from app import bridge as message
from app.bridge import BridgeHandler, LogEntry, MessageBridge, install_handler, remove_handler

pytestmark = pytest.mark.gui


def test_cached_until_flush_then_direct(qtbot) -> None:
    bridge = MessageBridge()
    got: list[LogEntry] = []
    bridge.entry_posted.connect(got.append)
    bridge.post(LogEntry(logging.INFO, "early", "t", 0.0))
    assert got == []
    bridge.flush()
    bridge.post(LogEntry(logging.WARNING, "late", "t", 1.0))
    assert [e.text for e in got] == ["early", "late"]


def test_cache_is_bounded(qtbot) -> None:
    bridge = MessageBridge(max_cached=3)
    got: list[LogEntry] = []
    bridge.entry_posted.connect(got.append)
    for i in range(5):
        bridge.post(LogEntry(logging.INFO, str(i), "t", 0.0))
    bridge.flush()
    assert [e.text for e in got] == ["2", "3", "4"]


def test_entries_from_a_worker_thread_arrive_on_the_gui_thread(qtbot) -> None:
    bridge = MessageBridge()
    bridge.flush()
    threads: list[bool] = []
    bridge.entry_posted.connect(lambda e: threads.append(threading.current_thread() is threading.main_thread()))
    logger = logging.getLogger("app.test_bridge_thread")
    handler = BridgeHandler(bridge)
    logger.addHandler(handler)
    try:
        worker = threading.Thread(target=lambda: logger.warning("from a thread"))
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: threads == [True])
    finally:
        logger.removeHandler(handler)


def test_user_messages_and_exceptions_become_entries(qtbot) -> None:
    bridge = MessageBridge()
    bridge.flush()
    got: list[LogEntry] = []
    bridge.entry_posted.connect(got.append)
    handler = install_handler(bridge)
    try:
        message.error("The file is damaged.", details="offset 12")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("engine.something").exception("It failed")
        logging.getLogger("unrelated.library").warning("not ours")
    finally:
        remove_handler(handler)
    assert [(e.text, e.level_name, e.user_facing) for e in got] == [
        ("The file is damaged.", "Error", True), ("It failed", "Error", False),
    ]
    assert got[0].details == "offset 12"
    assert "ValueError: boom" in got[1].details
