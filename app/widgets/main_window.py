"""The main window: layout and wiring only.

Left, the hardware panel; in the middle, tabs for finding a model, its recommendation, and converting
with the job queue; below, the log. The whole window accepts dropped models. Work requested anywhere
(drop area, recommendation view, wizard) goes into the one job queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from app import bridge as message
from app.bridge import LogEntry, MessageBridge, global_bridge
from app.jobs.job import JobState
from app.jobs.model import JobListModel
from app.jobs.queue import JobQueue
from app.jobs.tasks import ConvertTask, DownloadConvertTask, DownloadTask, Task, server_args_from
from app.settings import Settings
from app.widgets.drop_area import DropArea, WindowDropFilter
from app.widgets.hardware_panel import HardwarePanel
from app.widgets.job_view import JobView
from app.widgets.log_pane import LogPane
from app.widgets.main_actions import Notifier, build_menus
from app.widgets.model_picker import ModelPicker
from app.widgets.recommend_view import RecommendView
from app.widgets.requests import ConversionRequest, DownloadRequest
from app.widgets.svg_icons import svg_icon
from engine.version import __version__

log = logging.getLogger(__name__)

NOTIFY_AFTER_S = 20.0  # a job that ran this long gets a desktop notification when it ends
STATUS_MS = 8000


def ask_to_stop(parent: QWidget, n_unfinished: int) -> bool:
    """Ask whether to cancel the running and waiting jobs and quit."""
    jobs = "1 job has" if n_unfinished == 1 else f"{n_unfinished} jobs have"
    answer = QMessageBox.question(
        parent, "Quit Quantpick?",
        f"{jobs} not finished. Quit anyway?\n\nThe running job is cancelled cleanly: nothing half-written is "
        "left behind, and you can start it again later.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class MainWindow(QMainWindow):
    """Top-level window.

    Args:
        settings: Persisted options (default: the app's QSettings store).
        queue: The job queue (default: a new one using the settings' thread count).
        bridge: Where log entries arrive (default: the global bridge).
        hardware: The hardware panel (tests pass one showing a preset).
        picker, recommend: The model picker and recommendation view (tests pass ones with fakes).
        detect_hardware: Probe this computer when the window opens.
        confirm_quit: Asked when closing with unfinished jobs; True quits (tests replace it).
    """

    def __init__(self, *, settings: Settings | None = None, queue: JobQueue | None = None,
                 bridge: MessageBridge | None = None, hardware: HardwarePanel | None = None,
                 picker: ModelPicker | None = None, recommend: RecommendView | None = None,
                 detect_hardware: bool = True,
                 confirm_quit: Callable[[QWidget, int], bool] = ask_to_stop) -> None:
        super().__init__()
        self.setWindowTitle(f"Quantpick {__version__}")
        self.setWindowIcon(svg_icon("quantpick"))
        self.setAcceptDrops(True)  # the drop filter below takes the drops, wherever they land
        self.settings = settings if settings is not None else Settings(QSettings())
        self.queue = queue if queue is not None else JobQueue(self, threads=self.settings.threads(), device=self.settings.device())
        self._confirm_quit = confirm_quit
        self._closing = False
        self.hardware = hardware if hardware is not None else HardwarePanel()
        self.picker = picker if picker is not None else ModelPicker()
        self.recommend = recommend if recommend is not None else RecommendView()
        self.drop_area = DropArea(default_types=self.settings.default_types(),
                                  output_dir=self.settings.output_dir())
        self.job_view = JobView(JobListModel(self.queue, self))
        self.log_pane = LogPane()
        self.tabs = QTabWidget()
        self._build_layout()
        self._queue_status = QLabel()
        self.statusBar().addPermanentWidget(self._queue_status)
        self.actions_by_name = build_menus(self)
        self._notifier = Notifier(self)
        self._connect()
        (bridge or global_bridge()).entry_posted.connect(self._on_bridge_entry_posted)
        (bridge or global_bridge()).flush()
        self._update_queue_status()
        self.resize(1280, 820)
        if detect_hardware:
            QTimer.singleShot(0, self.hardware.detect)

    # -- building -----------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        convert = QSplitter(Qt.Orientation.Vertical)
        convert.addWidget(self.drop_area)
        convert.addWidget(self.job_view)
        convert.setStretchFactor(0, 0)
        convert.setStretchFactor(1, 1)
        convert.setChildrenCollapsible(False)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(convert)
        self.convert_page = page
        self.tabs.addTab(self.picker, svg_icon("action-search"), "&Models")
        self.tabs.addTab(self.recommend, svg_icon("mark-recommended"), "&Recommendation")
        self.tabs.addTab(page, svg_icon("action-convert"), "Convert and &jobs")
        self.setCentralWidget(self.tabs)
        self.hardware_dock = self._dock("This computer", "hardware", self.hardware,
                                        Qt.DockWidgetArea.LeftDockWidgetArea)
        self.log_dock = self._dock("Log", "log", self.log_pane, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.hardware_dock], [300], Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [150], Qt.Orientation.Vertical)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        self.hardware.profile_changed.connect(self._on_hardware_profile_changed)
        self.picker.model_selected.connect(self._on_picker_model_selected)
        self.recommend.convert_requested.connect(self.handle_conversion_request)
        self.recommend.download_requested.connect(self.handle_download_request)
        self.drop_area.convert_requested.connect(self._on_drop_area_convert_requested)
        self.drop_area.output_dir_changed.connect(self._on_drop_area_output_dir_changed)
        self.queue.job_changed.connect(self._on_queue_job_changed)
        self.queue.job_ended.connect(self._on_queue_job_ended)
        self.queue.idle.connect(self._on_queue_idle)
        self.settings.changed.connect(self._on_settings_changed)
        self._drop_filter = WindowDropFilter(self)
        self._drop_filter.paths_dropped.connect(self.open_paths)
        self._drop_filter.drag_active.connect(self.drop_area.set_drag_active)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._drop_filter)
        if self.hardware.profile() is not None:  # a panel made with a profile announced it before we listened
            self.recommend.set_hardware(self.hardware.profile())

    # -- public API ---------------------------------------------------------------------------------

    def show_jobs(self) -> None:
        self.tabs.setCurrentWidget(self.convert_page)

    def open_paths(self, paths: list[Path]) -> None:
        """What a drop does: inspect the paths in the convert tab."""
        if paths:
            self.show_jobs()
            self.drop_area.add_paths(paths)

    def handle_conversion_request(self, request: ConversionRequest) -> None:
        """Queue a conversion asked for by the recommendation view or the wizard."""
        out_dir = request.out_dir or self.settings.output_dir()
        args = server_args_from(request.run_command)
        if request.source is not None:
            task: Task = ConvertTask(request.source, request.ftype, out_dir, args)
        else:
            assert request.repo_id is not None
            task = DownloadConvertTask(request.repo_id, request.ftype, out_dir, args)
        self._queued(self.queue.add_task(task).title)

    def handle_download_request(self, request: DownloadRequest) -> None:
        """Queue a download of a ready-made GGUF."""
        task = DownloadTask(request.repo_id, request.variant, server_args_from(request.run_command))
        self._queued(self.queue.add_task(task).title)

    def _queued(self, title: str) -> None:
        message.info(f"Queued: {title}.")
        self.show_jobs()

    # -- closing ------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        unfinished = len(self.queue.jobs.unfinished())
        if unfinished and not self._closing:
            if not self._confirm_quit(self, unfinished):
                event.ignore()
                return
            self._closing = True
            self.queue.cancel_all()
        if self.queue.is_busy:
            self.statusBar().showMessage("Stopping the running job, then closing...")
            event.ignore()  # closes again from _on_queue_idle once the worker has let go
            return
        self.queue.shutdown()
        self.settings.sync()
        event.accept()

    # -- slots --------------------------------------------------------------------------------------

    def _on_hardware_profile_changed(self, profile: object) -> None:
        self.recommend.set_hardware(profile)  # type: ignore[arg-type]

    def _on_picker_model_selected(self, choice: object) -> None:
        self.recommend.set_model(choice)  # type: ignore[arg-type]
        self.statusBar().showMessage("The Recommendation tab now shows the chosen model.", STATUS_MS)

    def _on_drop_area_convert_requested(self, sources: object, types: object, out_dir: object) -> None:
        assert isinstance(sources, list) and isinstance(types, list) and isinstance(out_dir, Path)
        for source, ftypes in zip(sources, types):
            for ftype in ftypes:
                self.queue.add(source, ftype, out_dir)

    def _on_drop_area_output_dir_changed(self, folder: object) -> None:
        try:
            self.settings.set("output_dir", str(folder))
        except Exception as e:  # noqa: BLE001 - an odd folder is reported when a job uses it
            log.info("Not remembering the output folder %s: %s", folder, e)

    def _on_queue_job_changed(self, _job_id: int) -> None:
        self._update_queue_status()

    def _on_queue_job_ended(self, job_id: int) -> None:
        job = self.queue.job(job_id)
        self._update_queue_status()
        if job.state is JobState.DONE:
            message.info(f"Finished: {job.title}. {job.detail_text()}")
        elif job.state is JobState.FAILED and job.failure is not None:
            message.error(f"Failed: {job.title}. {job.failure}", details=job.failure.details)
        long_job = (job.elapsed_s or 0.0) >= NOTIFY_AFTER_S
        if long_job and job.state in (JobState.DONE, JobState.FAILED):
            failed = job.state is JobState.FAILED
            self._notifier.notify(f"{'Failed' if failed else 'Finished'}: {job.title}", job.detail_text(),
                                  failed=failed)

    def _on_queue_idle(self) -> None:
        self._update_queue_status()
        if self._closing:
            QTimer.singleShot(0, self.close)

    def _on_bridge_entry_posted(self, entry: LogEntry) -> None:
        self.log_pane.add_entry(entry)
        if entry.user_facing:
            self.statusBar().showMessage(entry.text, STATUS_MS)

    def _on_settings_changed(self, name: str) -> None:
        if name == "threads":
            self.queue.set_threads(self.settings.threads())
        elif name == "device":
            self.queue.set_device(self.settings.device())
        elif name == "default_types":
            self.drop_area.set_selected_types(self.settings.default_types())

    def _update_queue_status(self) -> None:
        jobs = list(self.queue.jobs)
        running = sum(1 for j in jobs if j.state.is_active)
        waiting = sum(1 for j in jobs if j.state is JobState.WAITING)
        text = "No jobs running" if not running else f"{running} running"
        self._queue_status.setText(text + (f", {waiting} waiting" if waiting else ""))
