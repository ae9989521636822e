"""The wizard's first four pages: Hardware, Model, Goals, Recommendation. Each writes into the shared
WizardState and asks it whether the user may move on; the widgets inside are the main window's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QRadioButton, QVBoxLayout, QWizardPage,
)

from app.widgets.background import BackgroundRunner
from app.widgets.hardware_panel import HardwarePanel
from app.widgets.model_choice import ModelChoice
from app.widgets.model_picker import ModelPicker
from app.widgets.recommend_rows import OptionRow, RecommendResult, context_steps
from app.widgets.recommend_view import RecommendView
from app.widgets.units import fmt_tokens
from app.wizard.state import Priority, Step, WizardState
from engine.hardware import HardwareProfile


class StatePage(QWizardPage):
    """A page whose completeness is ``state.missing(step)``; the reason shows at the bottom."""

    def __init__(self, state: WizardState, step: Step, title: str, subtitle: str) -> None:
        super().__init__()
        self.state = state
        self.step = step
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.layout_ = QVBoxLayout(self)
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setEnabled(False)

    def finish_layout(self) -> None:
        self.layout_.addWidget(self.reason)

    def isComplete(self) -> bool:  # noqa: N802 - Qt override
        missing = self.state.missing(self.step)
        self.reason.setText(missing or "")
        return missing is None

    def changed(self) -> None:
        self.completeChanged.emit()


class HardwarePage(StatePage):
    """Detected hardware, editable through the panel's "simulate hardware" menu."""

    def __init__(self, state: WizardState, *, detect_fn: Callable[[], HardwareProfile],
                 presets: dict[str, HardwareProfile], runner: BackgroundRunner) -> None:
        super().__init__(state, Step.HARDWARE, "Your hardware",
                         "What Quantpick found on this computer. To ask \"what if\", use Simulate hardware.")
        self.panel = HardwarePanel(profile=state.hardware, detect_fn=detect_fn, presets=presets, runner=runner)
        self.panel.profile_changed.connect(self._on_panel_profile_changed)
        self.layout_.addWidget(self.panel, 1)
        self.finish_layout()
        self._probed = state.hardware is not None

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        if not self._probed:
            self._probed = True
            self.panel.detect()

    def _on_panel_profile_changed(self, profile: HardwareProfile) -> None:
        self.state.hardware = profile
        self.state.result = None
        self.changed()


class ModelPage(StatePage):
    """Search, pick, or drop a checkpoint onto the page."""

    def __init__(self, state: WizardState, *, client_factory: Callable[[], Any], runner: BackgroundRunner) -> None:
        super().__init__(state, Step.MODEL, "Model",
                         "Search Hugging Face, pick from the catalog or your downloads, or drop a checkpoint here.")
        self.picker = ModelPicker(client_factory=client_factory, runner=runner)
        self.picker.model_selected.connect(self._on_picker_model_selected)
        self.setAcceptDrops(True)
        self.layout_.addWidget(self.picker, 1)
        self.finish_layout()

    def _on_picker_model_selected(self, choice: ModelChoice) -> None:
        self.state.model = choice
        self.state.result = None
        self.state.file_type = None
        self.changed()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.picker.open_path(Path(urls[0].toLocalFile()))


class GoalsPage(StatePage):
    """Context length, what matters most, and the slowest speed that is still acceptable."""

    def __init__(self, state: WizardState) -> None:
        super().__init__(state, Step.GOALS, "Goals", "How much text the model should keep in mind, and how fast it "
                         "must answer.")
        self.context = QComboBox()
        self.context.currentIndexChanged.connect(self._on_context_current_index_changed)
        self.priorities = QButtonGroup(self)
        priority_box = QVBoxLayout()
        for i, priority in enumerate(Priority):
            button = QRadioButton(priority.label)
            button.setToolTip(priority.help)
            button.setChecked(priority is state.priority)
            self.priorities.addButton(button, i)
            help_label = QLabel(priority.help)
            help_label.setEnabled(False)
            help_label.setIndent(24)
            priority_box.addWidget(button)
            priority_box.addWidget(help_label)
        self.priorities.idClicked.connect(self._on_priorities_id_clicked)
        self.min_speed = QDoubleSpinBox()
        self.min_speed.setRange(0, 1000)
        self.min_speed.setDecimals(0)
        self.min_speed.setSuffix(" tokens/s")
        self.min_speed.setSpecialValueText("no minimum")
        self.min_speed.setValue(state.min_tokens_per_s)
        self.min_speed.valueChanged.connect(self._on_min_speed_value_changed)
        form = QFormLayout()
        form.addRow("&Context length:", self.context)
        form.addRow("What matters most:", priority_box)
        form.addRow("Slowest acceptable &speed:", self.min_speed)
        self.layout_.addLayout(form)
        self.layout_.addStretch(1)
        self.finish_layout()

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        trained = self.state.model.trained_context if self.state.model is not None else None
        steps = context_steps(trained)
        wanted = min(self.state.n_ctx, steps[-1])
        self.context.blockSignals(True)
        self.context.clear()
        for n in steps:
            suffix = " (trained context)" if n == trained else ""
            self.context.addItem(f"{fmt_tokens(n)} tokens{suffix}", n)
        self.context.setCurrentIndex(min(range(len(steps)), key=lambda i: abs(steps[i] - wanted)))
        self.context.blockSignals(False)
        self.state.n_ctx = int(self.context.currentData())

    def _on_context_current_index_changed(self, index: int) -> None:
        if index >= 0:
            self.state.n_ctx = int(self.context.itemData(index))
            self.changed()

    def _on_priorities_id_clicked(self, index: int) -> None:
        self.state.priority = list(Priority)[index]

    def _on_min_speed_value_changed(self, value: float) -> None:
        self.state.min_tokens_per_s = value


class RecommendationPage(StatePage):
    """The pick and the alternatives, with why; selecting another row changes the choice."""

    def __init__(self, state: WizardState, *, runner: BackgroundRunner) -> None:
        super().__init__(state, Step.RECOMMENDATION, "Recommendation",
                         "The recommended file type is marked; select another row to choose it instead.")
        self.view = RecommendView(runner=runner)
        self.view.download.hide()  # the next page offers download or conversion
        self.view.convert.hide()
        self.view.recommendation_changed.connect(self._on_view_recommendation_changed)
        self.view.row_selected.connect(self._on_view_row_selected)
        self.layout_.addWidget(self.view, 1)
        self.finish_layout()

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        if self.state.hardware is None or self.state.model is None:
            return
        self.view.set_min_tokens_per_s(self.state.speed_floor)
        self.view.set_kv_type(self.state.kv_type)
        self.view.set_context(self.state.n_ctx)
        self.view.set_hardware(self.state.hardware)
        self.view.set_model(self.state.model)

    def _on_view_recommendation_changed(self, result: RecommendResult) -> None:
        self.state.result = result
        self.state.n_ctx = result.inputs.n_ctx
        self.state.kv_type = result.inputs.kv_type
        row = self.view.selected_row()
        if row is not None:
            self.state.choose(row.file_type)
        self.changed()

    def _on_view_row_selected(self, row: OptionRow) -> None:
        self.state.choose(row.file_type)
        self.changed()
