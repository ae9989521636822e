"""The queue view: painted rows with working buttons, and the same actions from the keyboard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from app.jobs.job import JobAction, JobState
from app.jobs.model import JobListModel, Role
from app.jobs.queue import JobQueue
from app.widgets.job_view import JobView
from engine.quant.ftypes import parse_file_type
from tests.conftest import GOLDEN

pytestmark = pytest.mark.gui

TINY = GOLDEN / "requant" / "synth-a-f32.gguf"
Q4 = parse_file_type("Q4_K_M")


@pytest.fixture
def view(qtbot) -> Iterator[tuple[JobView, JobQueue, list[Path]]]:
    queue = JobQueue()
    opened: list[Path] = []
    job_view = JobView(JobListModel(queue), open_folder=opened.append)
    qtbot.addWidget(job_view)
    job_view.resize(900, 500)
    job_view.show()
    qtbot.waitExposed(job_view)
    yield job_view, queue, opened
    queue.shutdown(wait_ms=60_000)


def click_row_button(qtbot, job_view: JobView, job_id: int, action: JobAction) -> None:
    list_view = job_view.list_view
    index = list_view.model().index_of(job_id)
    rect = list_view.visualRect(index)
    job = index.data(Role.JOB)
    buttons = job_view.delegate.button_rects(rect, list_view.fontMetrics(), job)
    [button] = [r for a, r in buttons if a is action]
    qtbot.mouseClick(list_view.viewport(), Qt.MouseButton.LeftButton, pos=button.center())


def test_rows_follow_the_queue_and_buttons_work(qtbot, view, tmp_path: Path) -> None:
    job_view, queue, opened = view
    running = queue.add(TINY, Q4, tmp_path / "a")
    waiting = queue.add(TINY, parse_file_type("Q8_0"), tmp_path / "b")
    model = job_view.list_view.model()
    assert model.rowCount() == 2
    assert model.data(model.index(1, 0), Role.STATE) is JobState.WAITING
    click_row_button(qtbot, job_view, waiting.id, JobAction.CANCEL)
    assert waiting.state is JobState.CANCELLED
    qtbot.waitUntil(lambda: running.state.is_final, timeout=60_000)
    assert running.state is JobState.DONE
    click_row_button(qtbot, job_view, running.id, JobAction.SHOW_FOLDER)
    assert opened == [tmp_path / "a"]
    click_row_button(qtbot, job_view, running.id, JobAction.COPY_COMMAND)
    assert QGuiApplication.clipboard().text() == running.server_command()
    click_row_button(qtbot, job_view, waiting.id, JobAction.REMOVE)
    assert [j.id for j in queue.jobs] == [running.id]


def test_keyboard_actions_follow_the_selection(qtbot, view, tmp_path: Path) -> None:
    job_view, queue, _ = view
    a = queue.add(TINY, Q4, tmp_path / "a")
    b = queue.add(TINY, Q4, tmp_path / "b")
    c = queue.add(TINY, Q4, tmp_path / "c")
    job_view.select(c.id)
    assert job_view.action(JobAction.MOVE_UP).isEnabled()
    assert not job_view.action(JobAction.MOVE_DOWN).isEnabled()
    assert not job_view.action(JobAction.SHOW_FOLDER).isEnabled()
    job_view.list_view.setFocus()
    qtbot.keyClick(job_view.list_view, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert [j.id for j in queue.jobs][1] == c.id and job_view.selected_job() is c
    qtbot.keyClick(job_view.list_view, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert c.state is JobState.CANCELLED
    qtbot.keyClick(job_view.list_view, Qt.Key.Key_Delete)
    assert c.id not in [j.id for j in queue.jobs]
    qtbot.waitUntil(lambda: a.state.is_final and b.state.is_final, timeout=60_000)


def inked_pixels(job_view: JobView) -> int:
    """Pixels of the viewport that differ from its background: text and painted rows."""
    image = job_view.list_view.viewport().grab().toImage()
    background = image.pixelColor(QPoint(1, 1))
    return sum(image.pixelColor(QPoint(x, y)) != background
               for x in range(0, image.width(), 2) for y in range(0, image.height(), 2))


def test_empty_queue_paints_a_hint(qtbot, view) -> None:
    job_view, _, _ = view
    assert inked_pixels(job_view) > 50  # "Conversions you start appear here..."


def test_a_finished_row_grows_to_show_the_command(qtbot, view, tmp_path: Path) -> None:
    job_view, queue, _ = view
    job = queue.add(TINY, Q4, tmp_path)
    list_view = job_view.list_view
    index = list_view.model().index_of(job.id)
    running_height = list_view.visualRect(index).height()
    qtbot.waitUntil(lambda: job.state is JobState.DONE, timeout=60_000)
    qtbot.waitUntil(lambda: list_view.visualRect(index).height() > running_height, timeout=5000)
