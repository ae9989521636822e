"""The main window end to end: drop a model, convert it, close during a job, stay responsive."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.bridge import MessageBridge, install_handler, remove_handler
from app.jobs.job import JobState
from app.jobs.queue import JobQueue
from app.jobs.tasks import DownloadConvertTask, DownloadTask
from app.settings import Settings
from app.widgets.hardware_panel import HardwarePanel
from app.widgets.main_window import MainWindow
from app.widgets.model_picker import ModelPicker
from app.widgets.requests import ConversionRequest, DownloadRequest
from engine.formats.gguf_read import read_gguf
from engine.hardware import PRESETS
from engine.hub import GGUFVariant, RepoFile
from engine.quant.ftypes import parse_file_type
from engine.version import __version__
from tests.conftest import GOLDEN
from tests.unit.app.synthetic import write_llama_gguf

pytestmark = pytest.mark.gui

HF_TINY = GOLDEN / "convert" / "hf-tiny-llama-spm"


class Window:
    """A main window on a private settings file, a preset hardware profile and a fake Hub."""

    def __init__(self, qtbot, tmp_path: Path, fake_hub, *, confirm: bool = True) -> None:
        self.asked: list[int] = []
        settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        settings.set("output_dir", tmp_path / "out")
        self.queue = JobQueue(client_factory=lambda: fake_hub)
        self.bridge = MessageBridge()
        self.handler = install_handler(self.bridge)
        self.window = MainWindow(
            settings=settings, queue=self.queue, bridge=self.bridge,
            hardware=HardwarePanel(profile=next(iter(PRESETS.values()))), picker=ModelPicker(client=fake_hub),
            detect_hardware=False, confirm_quit=lambda _parent, n: self.asked.append(n) or confirm,
        )
        qtbot.addWidget(self.window)
        self.window.show()
        qtbot.waitExposed(self.window)


@pytest.fixture
def win(qtbot, tmp_path: Path, fake_hub) -> Iterator[Window]:
    w = Window(qtbot, tmp_path, fake_hub)
    yield w
    w.queue.shutdown(wait_ms=60_000)
    remove_handler(w.handler)


def drop(window: QWidget, paths: list[Path]) -> None:
    """What the platform does when files are dropped on the window: drag enter, then drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPoint(200, 200), actions, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(200, 200), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    assert event.isAccepted()


def test_window_names_version_and_holds_every_part(win: Window) -> None:
    w = win.window
    assert __version__ in w.windowTitle()
    assert [w.tabs.tabText(i) for i in range(w.tabs.count())] == ["&Models", "&Recommendation", "Convert and &jobs"]
    assert w.hardware_dock.widget() is w.hardware and w.log_dock.widget() is w.log_pane
    assert w.hardware.profile() is not None
    assert w.acceptDrops()


def test_drop_of_hf_model_converts_to_q4_k_m(qtbot, win: Window, tmp_path: Path) -> None:
    w = win.window
    drop(w, [HF_TINY / "model.safetensors"])  # a file inside a model folder means the folder
    assert w.tabs.currentWidget() is w.convert_page
    qtbot.waitUntil(lambda: not w.drop_area.is_busy(), timeout=10_000)
    [item] = w.drop_area.items()
    assert item is not None and item.convertible and item.path == HF_TINY
    assert [ft.name for ft in w.drop_area.selected_types()] == ["Q4_K_M"]
    assert w.drop_area.output_dir() == tmp_path / "out"
    w.drop_area.convert_button().click()
    [job] = list(win.queue.jobs)
    qtbot.waitUntil(lambda: job.state.is_final, timeout=60_000)
    assert job.state is JobState.DONE, job.failure
    assert job.result is not None and job.result.output.parent == tmp_path / "out"
    gguf = read_gguf(job.result.output)
    assert gguf.get("general.file_type") == parse_file_type("Q4_K_M").llama_ftype
    assert gguf.get("general.architecture") == "llama"
    qtbot.waitUntil(lambda: "Finished" in w.log_pane.visible_text())


def test_a_model_dropped_on_a_text_field_still_goes_to_the_drop_area(qtbot, win: Window) -> None:
    w = win.window
    field = w.picker.catalog_tab.filter
    before = field.text()
    drop(field, [GOLDEN / "requant" / "synth-a-f32.gguf"])
    assert field.text() == before
    assert w.tabs.currentWidget() is w.convert_page
    qtbot.waitUntil(lambda: not w.drop_area.is_busy(), timeout=10_000)
    [item] = w.drop_area.items()
    assert item is not None and item.convertible


def test_pickled_drop_is_refused_with_the_reason(qtbot, win: Window, tmp_path: Path) -> None:
    pickled = tmp_path / "pytorch_model.bin"
    pickled.write_bytes(b"\x80\x02}q\x00.")
    drop(win.window, [pickled])
    area = win.window.drop_area
    qtbot.waitUntil(lambda: not area.is_busy(), timeout=10_000)
    [item] = area.items()
    assert item is not None and not item.convertible and item.failure is not None
    assert "pickled PyTorch checkpoint" in item.failure.message
    assert not area.convert_button().isEnabled()
    assert "could take over your computer" in area.findChild(QWidget, "dropDetails").text()


def test_requests_from_recommendation_and_wizard_join_the_queue(win: Window, tmp_path: Path) -> None:
    w = win.window
    variant = GGUFVariant("Q4_K_M", "Q4_K_M", (RepoFile("m-Q4_K_M.gguf", 10),), 10)
    win.queue.cancel_all()
    w.handle_download_request(DownloadRequest("org/m-GGUF", variant, "llama-server -m m-Q4_K_M.gguf -c 4096"))
    w.handle_conversion_request(ConversionRequest(parse_file_type("Q8_0"), repo_id="org/m"))
    tasks = [job.task for job in win.queue.jobs]
    assert tasks[0] == DownloadTask("org/m-GGUF", variant, ("-c", "4096"))
    assert tasks[1] == DownloadConvertTask("org/m", parse_file_type("Q8_0"), tmp_path / "out")
    assert w.tabs.currentWidget() is w.convert_page


@pytest.fixture(scope="module")
def large_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 37M F32 parameters: a Q4_K_M conversion takes a few seconds here."""
    return write_llama_gguf(tmp_path_factory.mktemp("large") / "large-f32.gguf", embd=1024, ff=4096, layers=2,
                            vocab=4096)


def test_closing_during_a_job_asks_then_cancels_cleanly(qtbot, tmp_path: Path, fake_hub, large_gguf: Path) -> None:
    keep = Window(qtbot, tmp_path / "keep", fake_hub, confirm=False)
    job = keep.queue.add(large_gguf, parse_file_type("Q4_K_M"), tmp_path / "keep-out")
    qtbot.waitUntil(lambda: job.fraction > 0.02, timeout=60_000)
    keep.window.close()
    assert keep.asked == [1] and keep.window.isVisible() and job.state is JobState.RUNNING
    keep.queue.cancel(job.id)
    qtbot.waitUntil(lambda: job.state.is_final, timeout=60_000)
    keep.queue.shutdown()
    remove_handler(keep.handler)

    quit_ = Window(qtbot, tmp_path / "quit", fake_hub, confirm=True)
    out = tmp_path / "quit-out"
    running = quit_.queue.add(large_gguf, parse_file_type("Q4_K_M"), out)
    waiting = quit_.queue.add(large_gguf, parse_file_type("Q8_0"), out)
    qtbot.waitUntil(lambda: running.fraction > 0.02, timeout=60_000)
    quit_.window.close()
    assert quit_.asked == [2]
    qtbot.waitUntil(lambda: not quit_.window.isVisible(), timeout=60_000)
    assert running.state is JobState.CANCELLED and waiting.state is JobState.CANCELLED
    assert list(out.iterdir()) == []  # no file and no .partial
    assert not quit_.queue._thread.isRunning()
    remove_handler(quit_.handler)


def test_gui_thread_stays_responsive_during_a_conversion(qtbot, win: Window, tmp_path: Path, large_gguf: Path,
                                                         record_property) -> None:
    interval_ms = 10
    lateness: list[float] = []
    last = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last[0]) * 1000 - interval_ms))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    win.window.show_jobs()
    job = win.queue.add(large_gguf, parse_file_type("Q4_K_M"), tmp_path / "latency")
    timer.start(interval_ms)
    last[0] = time.perf_counter()
    qtbot.waitUntil(lambda: job.state.is_final, timeout=120_000)
    timer.stop()
    assert job.state is JobState.DONE, job.failure
    worst, mean = max(lateness), statistics.fmean(lateness)
    record_property("event_loop_latency_ms", {"max": worst, "mean": mean, "ticks": len(lateness),
                                              "job_s": job.elapsed_s})
    print(f"\nevent-loop lateness over {len(lateness)} ticks during a {job.elapsed_s:.1f} s conversion: "
          f"max {worst:.1f} ms, mean {mean:.2f} ms")
    assert len(lateness) > 20
    assert worst < 500 and mean < 50


def test_long_jobs_notify_when_they_end(qtbot, win: Window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notes: list[tuple[str, bool]] = []
    monkeypatch.setattr("app.widgets.main_window.NOTIFY_AFTER_S", 0.0)
    monkeypatch.setattr(win.window._notifier, "notify", lambda title, text, failed=False: notes.append((title, failed)))
    job = win.queue.add(GOLDEN / "requant" / "synth-a-f32.gguf", parse_file_type("Q8_0"), tmp_path / "n")
    qtbot.waitUntil(lambda: job.state.is_final, timeout=60_000)
    assert notes == [(f"Finished: {job.title}", False)]
