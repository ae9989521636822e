"""The recommendation view: every file type as a row, the pick explained, a memory bar for the selected row,
live context and KV-type controls, and buttons to copy run commands, download or convert.

All engine work (describing the model, fitting every type) runs on the runner's threads; slider moves
are debounced so dragging does not queue a computation per pixel.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSlider, QTableView,
    QVBoxLayout, QWidget,
)

from app.widgets.background import BackgroundRunner, describe_error
from app.widgets.memory_bar import MemoryBar
from app.widgets.model_choice import ModelChoice
from app.widgets.recommend_columns import OPTION_COLUMNS
from app.widgets.recommend_rows import (
    KV_CHOICES, OptionRow, RecommendInputs, RecommendResult, compute, context_steps, memory_usage,
)
from app.widgets.requests import ConversionRequest, DownloadRequest
from app.widgets.svg_icons import svg_icon
from app.widgets.table_models import RecordTableModel, Role
from app.widgets.units import fmt_tokens
from engine.hardware import HardwareProfile
from engine.quant.ftypes import parse_file_type

_KEY = "recommend"
DEBOUNCE_MS = 150


class RecommendView(QWidget):
    """Recommendation for one model on one machine.

    Signals:
        recommendation_changed(object): a new RecommendResult is shown.
        row_selected(object): the OptionRow selected in the table.
        download_requested(object): a DownloadRequest for the selected row's ready-made GGUF.
        convert_requested(object): a ConversionRequest for the selected row's file type.

    Args:
        runner: where computations run. compute_fn: (inputs, description|None) -> RecommendResult.
    """

    recommendation_changed = Signal(object)
    row_selected = Signal(object)
    download_requested = Signal(object)
    convert_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, runner: BackgroundRunner | None = None,
                 compute_fn: Callable[..., RecommendResult] = compute, min_tokens_per_s: float = 10.0) -> None:
        super().__init__(parent)
        self._runner = runner if runner is not None else BackgroundRunner(self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._compute = compute_fn
        self._hardware: HardwareProfile | None = None
        self._choice: ModelChoice | None = None
        self._min_tps = min_tokens_per_s
        self._result: RecommendResult | None = None
        self._steps = context_steps(None)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._build()
        self.set_context(8192)

    # -- building -----------------------------------------------------------------------------------

    def _build(self) -> None:
        self.explanation = QLabel("Pick a model and the hardware to see which file type fits.")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.explanation.setAccessibleName("Recommendation")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(2)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.context_label = QLabel()
        self.context_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("1 048 576 tokens "))
        self.kv = QComboBox()
        for name, tip in KV_CHOICES.items():
            self.kv.addItem(name, name)
            self.kv.setItemData(self.kv.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.kv.setToolTip("Type of the KV cache (llama.cpp -ctk/-ctv): smaller types fit longer contexts.")
        self.kv.currentIndexChanged.connect(self._on_kv_current_index_changed)
        self.rows = RecordTableModel(OPTION_COLUMNS, self)
        self.rows.bold_row = lambda r: r.recommended
        self.table = self._build_table()
        self.bar = MemoryBar()
        self.command = QLineEdit()
        self.command.setReadOnly(True)
        self.command.setAccessibleName("llama-server command")
        self.copy_server = QPushButton(svg_icon("action-copy"), "Copy &llama-server command")
        self.copy_server.clicked.connect(self._on_copy_server_clicked)
        self.copy_ollama = QPushButton(svg_icon("action-copy"), "Copy &Ollama Modelfile")
        self.copy_ollama.clicked.connect(self._on_copy_ollama_clicked)
        self.download = QPushButton(svg_icon("action-download"), "&Download this quant")
        self.download.clicked.connect(self._on_download_clicked)
        self.convert = QPushButton(svg_icon("action-convert"), "Co&nvert to this type")
        self.convert.clicked.connect(self._on_convert_clicked)
        self.status = QLabel()
        self._lay_out()
        self._update_buttons(None)

    def _build_table(self) -> QTableView:
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.rows)
        proxy.setSortRole(Role.SORT)
        table = QTableView()
        table.setModel(proxy)
        table.setAccessibleName("File types")
        table.setSortingEnabled(True)
        table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setTabKeyNavigation(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(int(table.fontMetrics().height() * 1.6))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        return table

    def _lay_out(self) -> None:
        context_name = QLabel("&Context:")
        context_name.setBuddy(self.slider)
        kv_name = QLabel("&KV cache:")
        kv_name.setBuddy(self.kv)
        controls = QHBoxLayout()
        controls.addWidget(context_name)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.context_label)
        controls.addSpacing(12)
        controls.addWidget(kv_name)
        controls.addWidget(self.kv)
        buttons = QHBoxLayout()
        for button in (self.copy_server, self.copy_ollama, self.download, self.convert):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation)
        layout.addLayout(controls)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.command)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

    # -- public API ---------------------------------------------------------------------------------

    def set_hardware(self, profile: HardwareProfile) -> None:
        self._hardware = profile
        self._schedule(0)

    def set_model(self, choice: ModelChoice) -> None:
        if choice is not self._choice:
            self._choice = choice
            self._result = None  # a new model: describe it again
            self._schedule(0)

    def set_context(self, n_ctx: int) -> None:
        """Move the slider to the stop closest to ``n_ctx`` (recomputes after the debounce)."""
        index = min(range(len(self._steps)), key=lambda i: abs(self._steps[i] - n_ctx))
        self.slider.setRange(0, len(self._steps) - 1)
        self.slider.setValue(index)
        self._on_slider_value_changed(index)

    def set_kv_type(self, name: str) -> None:
        self.kv.setCurrentIndex(max(self.kv.findData(name), 0))

    def set_min_tokens_per_s(self, value: float) -> None:
        self._min_tps = value
        self._schedule(0)

    def context(self) -> int:
        return self._steps[self.slider.value()]

    def result(self) -> RecommendResult | None:
        return self._result

    def selected_row(self) -> OptionRow | None:
        index = self.table.currentIndex()
        return index.data(Role.RECORD) if index.isValid() else None

    def select_file_type(self, file_type: str) -> None:
        model = self.table.model()
        for r in range(model.rowCount()):
            if model.index(r, 0).data(Role.RECORD).file_type == file_type:
                self.table.setCurrentIndex(model.index(r, 0))
                return

    # -- computing ----------------------------------------------------------------------------------

    def inputs(self) -> RecommendInputs | None:
        if self._hardware is None or self._choice is None:
            return None
        return RecommendInputs(self._hardware, self._choice, self.context(), str(self.kv.currentData()),
                               self._min_tps)

    def _schedule(self, delay_ms: int) -> None:
        if self.inputs() is not None:
            self.status.setText("Computing...")
            self._timer.start(delay_ms)

    def _on_timer_timeout(self) -> None:
        inputs = self.inputs()
        if inputs is None:
            return
        same_model = self._result is not None and self._result.inputs.choice is inputs.choice
        desc = self._result.description if same_model and self._result is not None else None
        compute_fn = self._compute
        self._runner.submit(_KEY, lambda: compute_fn(inputs, desc))

    def _on_runner_finished(self, key: str, result: object) -> None:
        if key != _KEY or not isinstance(result, RecommendResult):
            return
        previous = self.selected_row()
        self._result = result
        self._adopt_context_range(result)
        self.rows.set_records(result.rows)
        self.status.setText("")
        best = result.best_row
        text = escape(result.recommendation.explanation)
        self.explanation.setText(f"<b>Recommended: {escape(best.file_type)}.</b> {text}" if best else text)
        wanted = previous.file_type if previous is not None else (best.file_type if best else None)
        if wanted is not None:
            self.select_file_type(wanted)
        self._on_row_changed(self.selected_row())
        self.recommendation_changed.emit(result)

    def _adopt_context_range(self, result: RecommendResult) -> None:
        steps = context_steps(result.description.n_ctx_train or None)
        if steps != self._steps:
            current = self.context()
            self._steps = steps
            self.slider.blockSignals(True)
            self.slider.setRange(0, len(steps) - 1)
            self.slider.setValue(min(range(len(steps)), key=lambda i: abs(steps[i] - current)))
            self.slider.blockSignals(False)
            self.context_label.setText(f"{fmt_tokens(self.context())} tokens")

    def _on_runner_failed(self, key: str, error: object) -> None:
        if key == _KEY:
            self._result = None
            self.rows.set_records([])
            self.bar.set_usage([])
            self.status.setText("")
            message = describe_error(error) if isinstance(error, BaseException) else str(error)
            self.explanation.setText(f"<b>No recommendation.</b> {escape(message)}")
            self._update_buttons(None)

    # -- slots --------------------------------------------------------------------------------------

    def _on_slider_value_changed(self, value: int) -> None:
        self.context_label.setText(f"{fmt_tokens(self._steps[value])} tokens")
        self.slider.setAccessibleName(f"Context length, {self._steps[value]} tokens")
        self._schedule(DEBOUNCE_MS)

    def _on_kv_current_index_changed(self, index: int) -> None:
        self._schedule(0)

    def _on_table_current_row_changed(self, current: object, previous: object) -> None:
        self._on_row_changed(self.selected_row())

    def _on_row_changed(self, row: OptionRow | None) -> None:
        if row is None or self._hardware is None:
            self.bar.set_usage([])
        else:
            self.bar.set_usage(memory_usage(row, self._hardware))
            self.row_selected.emit(row)
        self.command.setText(row.commands.llama_server if row is not None and row.commands else "")
        self._update_buttons(row)

    def _update_buttons(self, row: OptionRow | None) -> None:
        runs = row is not None and row.commands is not None
        self.copy_server.setEnabled(runs)
        self.copy_ollama.setEnabled(runs)
        self.download.setEnabled(row is not None and row.variant is not None)
        self.download.setToolTip("" if row is None or row.variant else "This repo has no ready-made GGUF of this type.")
        can_convert = row is not None and self._choice is not None and (
            self._choice.path is not None or self._choice.repo_id is not None)
        self.convert.setEnabled(can_convert)

    def _on_copy_server_clicked(self) -> None:
        row = self.selected_row()
        if row is not None and row.commands is not None:
            QGuiApplication.clipboard().setText(row.commands.llama_server)
            self.status.setText("Copied the llama-server command.")

    def _on_copy_ollama_clicked(self) -> None:
        row = self.selected_row()
        if row is not None and row.commands is not None:
            QGuiApplication.clipboard().setText(row.commands.ollama_modelfile)
            self.status.setText("Copied the Ollama Modelfile.")

    def _on_download_clicked(self) -> None:
        row = self.selected_row()
        if row is not None and row.variant is not None and self._choice is not None and self._choice.repo_id:
            command = row.commands.llama_server if row.commands else ""
            self.download_requested.emit(DownloadRequest(self._choice.repo_id, row.variant, command))

    def _on_convert_clicked(self) -> None:
        row = self.selected_row()
        if row is not None and self._choice is not None:
            command = row.commands.llama_server if row.commands else ""
            self.convert_requested.emit(ConversionRequest(
                parse_file_type(row.file_type), source=self._choice.path,
                repo_id=None if self._choice.path is not None else self._choice.repo_id, run_command=command))
