"""Background calls answer on the GUI thread, newest first, and failures arrive as messages."""

from __future__ import annotations

import threading

import pytest

from app.widgets.background import BackgroundRunner, describe_error
from engine.errors import UsageError


@pytest.mark.gui
def test_result_arrives_on_the_gui_thread(qtbot) -> None:
    runner = BackgroundRunner()
    seen: list[tuple[str, object, str]] = []
    runner.finished.connect(lambda key, result: seen.append((key, result, threading.current_thread().name)))
    worker_threads: list[str] = []

    def work() -> int:
        worker_threads.append(threading.current_thread().name)
        return 42

    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit("k", work)
    assert seen == [("k", 42, threading.main_thread().name)]
    assert worker_threads and worker_threads[0] != threading.main_thread().name
    assert not runner.busy and not runner.is_pending("k")


@pytest.mark.gui
def test_a_newer_call_makes_the_older_answer_stale(qtbot) -> None:
    runner = BackgroundRunner()
    release = threading.Event()
    seen: list[object] = []
    runner.finished.connect(lambda key, result: seen.append(result))

    def slow() -> str:
        release.wait(5)
        return "old"

    runner.submit("search", slow)
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit("search", lambda: "new")
    release.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert seen == ["new"]


@pytest.mark.gui
def test_failures_become_sentences(qtbot) -> None:
    runner = BackgroundRunner()

    def bad() -> None:
        raise UsageError("No such preset.", "Pick another.")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.submit("x", bad)
    key, error = blocker.args
    assert key == "x" and describe_error(error) == "No such preset. Pick another."
    assert describe_error(ValueError("boom")).startswith("Something unexpected went wrong (ValueError: boom)")


@pytest.mark.gui
def test_a_runner_deleted_mid_call_is_never_reached(qtbot) -> None:
    import shiboken6
    from PySide6.QtCore import QThreadPool

    release = threading.Event()
    done = threading.Event()
    runner = BackgroundRunner()
    seen: list[object] = []
    runner.finished.connect(seen.append)

    def slow() -> str:
        release.wait(5)
        done.set()
        return "late"

    runner.submit("k", slow)
    shiboken6.delete(runner)  # the window closed while the call runs
    release.set()
    assert done.wait(5)
    QThreadPool.globalInstance().waitForDone(5000)
    qtbot.wait(50)  # let the queued answer arrive at the relay
    assert seen == []
