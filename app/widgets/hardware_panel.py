"""The hardware panel: what this machine (or a simulated one) offers, and the "simulate hardware" menu.

Probing runs on a worker thread (NVML and sysfs reads can take a second); the panel shows "Checking this
computer..." meanwhile and never blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QLabel, QMenu, QProgressBar, QToolButton, QVBoxLayout, QWidget,
)

from app.widgets.background import BackgroundRunner, describe_error
from app.widgets.hardware_editor import HardwareEditorDialog
from app.widgets.hardware_text import cpu_text, disk_text, gpu_lines, preset_label, profile_title, ram_text
from app.widgets.svg_icons import svg_icon
from engine.hardware import PRESETS, HardwareProfile, detect

_DETECT = "detect"


def _icon_label(name: str) -> QLabel:
    label = QLabel()
    size = label.fontMetrics().height()
    label.setPixmap(svg_icon(name).pixmap(size, size))
    return label


class HardwarePanel(QWidget):
    """Each GPU (name, free/total VRAM, bandwidth), RAM, CPU and free disk of the current profile.

    Signals:
        profile_changed(object): a new HardwareProfile is shown (detected, preset or custom).

    Args:
        profile: show this profile instead of probing (tests, or a profile restored from settings).
        detect_fn: the probe to run off the GUI thread (default ``engine.hardware.detect``).
        presets: the "simulate hardware" entries, by name.
        runner: where the probe runs (default: a runner on Qt's global thread pool).
    """

    profile_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, profile: HardwareProfile | None = None,
                 detect_fn: Callable[[], HardwareProfile] = detect,
                 presets: Mapping[str, HardwareProfile] = PRESETS, runner: BackgroundRunner | None = None) -> None:
        super().__init__(parent)
        self._detect_fn = detect_fn
        self._presets = dict(presets)
        self._runner = runner if runner is not None else BackgroundRunner(self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._profile: HardwareProfile | None = None
        self._title = QLabel()
        self._title.setObjectName("hardwareTitle")
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._grid = QGridLayout()
        self._grid.setColumnStretch(1, 1)
        self._notes = QLabel()
        self._notes.setWordWrap(True)
        self._notes.setEnabled(False)  # drawn in the palette's disabled text colour: secondary information
        self._menu_button = self._build_menu_button()
        top = QHBoxLayout()
        top.addWidget(self._title, 1)
        top.addWidget(self._menu_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self._grid)
        layout.addWidget(self._notes)
        layout.addStretch(1)
        if profile is not None:
            self.set_profile(profile)

    # -- public API ---------------------------------------------------------------------------------

    def profile(self) -> HardwareProfile | None:
        """The profile shown, or None while the first probe is still running."""
        return self._profile

    def set_profile(self, profile: HardwareProfile) -> None:
        """Show ``profile`` and announce it with ``profile_changed``."""
        self._profile = profile
        self._title.setText(profile_title(profile))
        self._fill(profile)
        self._notes.setText("\n".join(profile.notes))
        self._notes.setVisible(bool(profile.notes))
        self.profile_changed.emit(profile)

    def detect(self) -> None:
        """Probe this computer in the background; the result replaces the profile shown."""
        self._title.setText("Checking this computer...")
        self._runner.submit(_DETECT, self._detect_fn)

    def simulate(self, name: str) -> None:
        """Show the preset called ``name`` (a key of ``presets``)."""
        self.set_profile(self._presets[name])

    def menu(self) -> QMenu:
        """The "simulate hardware" menu, so a main window can also put it in its menu bar."""
        menu = self._menu_button.menu()
        assert menu is not None
        return menu

    # -- building -----------------------------------------------------------------------------------

    def _build_menu_button(self) -> QToolButton:
        button = QToolButton()
        button.setText("Sim&ulate hardware")
        button.setIcon(svg_icon("action-simulate"))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setToolTip("Ask \"what if\": pick another machine, or describe one by hand.")
        menu = QMenu("Sim&ulate hardware", button)
        this = QAction("&This computer (detect again)", menu)
        this.triggered.connect(self._on_detect_triggered)
        menu.addAction(this)
        menu.addSeparator()
        for name, preset in self._presets.items():
            action = QAction(f"{name}: {preset_label(preset)}", menu)
            action.setData(name)
            action.triggered.connect(self._on_preset_triggered)
            menu.addAction(action)
        menu.addSeparator()
        custom = QAction("&Custom...", menu)
        custom.triggered.connect(self._on_custom_triggered)
        menu.addAction(custom)
        button.setMenu(menu)
        return button

    def _clear_grid(self) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.setParent(None)  # type: ignore[call-overload]  # gone from findChildren at once
                widget.deleteLater()

    def _row(self, icon: str, title: str, value: str, tooltip: str = "") -> int:
        row = self._grid.rowCount()
        self._grid.addWidget(_icon_label(icon), row, 0)
        value_label = QLabel(f"<b>{title}</b> {value}")
        value_label.setTextFormat(Qt.TextFormat.RichText)
        value_label.setWordWrap(True)
        value_label.setToolTip(tooltip)
        self._grid.addWidget(value_label, row, 1, 1, 2)
        return row

    def _fill(self, profile: HardwareProfile) -> None:
        self._clear_grid()
        for line in gpu_lines(profile):
            row = self._row("hw-gpu", line.title, f"<br>{line.memory}, {line.bandwidth}", line.tooltip)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(line.used_fraction * 1000))
            bar.setTextVisible(False)
            bar.setMaximumHeight(bar.fontMetrics().height() // 2)
            bar.setAccessibleName(f"{line.title} memory in use")
            bar.setToolTip(line.tooltip)
            self._grid.addWidget(bar, row + 1, 1, 1, 2)
        if not profile.gpus:
            self._row("hw-gpu", "GPU:", "none (models run on the CPU)")
        self._row("hw-ram", "RAM:", ram_text(profile))
        self._row("hw-cpu", "CPU:", cpu_text(profile), ", ".join(profile.cpu.features))
        self._row("hw-disk", "Disk:", disk_text(profile))

    # -- slots --------------------------------------------------------------------------------------

    def _on_detect_triggered(self) -> None:
        self.detect()

    def _on_preset_triggered(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.simulate(str(action.data()))

    def _on_custom_triggered(self) -> None:
        base = self._profile or next(iter(self._presets.values()))
        dialog = HardwareEditorDialog(base, self)
        if dialog.exec() == HardwareEditorDialog.DialogCode.Accepted and dialog.profile() is not None:
            self.set_profile(dialog.profile())  # type: ignore[arg-type]

    def _on_runner_finished(self, key: str, result: object) -> None:
        if key == _DETECT and isinstance(result, HardwareProfile):
            self.set_profile(result)

    def _on_runner_failed(self, key: str, error: object) -> None:
        if key == _DETECT:
            self._title.setText("Could not check this computer")
            self._notes.setText(describe_error(error) if isinstance(error, BaseException) else str(error))
            self._notes.show()
