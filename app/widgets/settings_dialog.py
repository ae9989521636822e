"""Preferences: output folder, default file types, conversion threads, memory margins, colours.

A form over ``Settings``; nothing is stored until OK, and an invalid value is explained, not stored.
There is deliberately no field for a Hugging Face token: log in with ``hf auth login`` instead.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from app.errors import show_error
from app.settings import OPTIONS, THEMES, Settings
from engine.errors import UsageError
from engine.quant.ftypes import FILE_TYPES

TYPE_COLUMNS = 5
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


DEVICE_LABELS = {"auto": "GPU when available, else CPU", "cpu": "CPU only", "gpu": "GPU (NVIDIA, needs CuPy)"}

class SettingsDialog(QDialog):
    """Edit the persisted options; ``accept`` validates and stores them all or none."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quantpick settings")
        self._settings = settings
        self.output_dir = QLineEdit(str(settings.output_dir()))
        browse = QPushButton("&Browse...")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.output_dir, 1)
        folder_row.addWidget(browse)
        self.type_boxes = {ft.name: QCheckBox(ft.name) for ft in FILE_TYPES}
        chosen = {ft.name for ft in settings.default_types()}
        grid = QGridLayout()
        for i, ft in enumerate(FILE_TYPES):
            box = self.type_boxes[ft.name]
            box.setChecked(ft.name in chosen)
            box.setToolTip(f"{ft.name}: {ft.description}")
            grid.addWidget(box, i // TYPE_COLUMNS, i % TYPE_COLUMNS)
        self.threads = self._spin(0, 256, settings.get("threads"), special="Every core")
        self.vram_margin = self._spin(0, 65536, settings.get("vram_margin_mib"), suffix=" MiB", step=256)
        self.ram_margin = self._spin(0, 1 << 20, settings.get("ram_margin_mib"), suffix=" MiB", step=256)
        self.device = QComboBox()
        for value, label in DEVICE_LABELS.items():
            self.device.addItem(label, value)
        self.device.setCurrentIndex(list(DEVICE_LABELS).index(settings.device()))
        self.theme = QComboBox()
        for theme in THEMES:
            self.theme.addItem(THEME_LABELS[theme], theme)
        self.theme.setCurrentIndex(THEMES.index(settings.theme()))
        form = QFormLayout()
        form.addRow("&Output folder:", folder_row)
        form.addRow(QLabel("Default file &types (preselected when a model is dropped):"))
        form.addRow(grid)
        form.addRow("Conversion t&hreads:", self.threads)
        form.addRow("GPU memory &kept free:", self.vram_margin)
        form.addRow("System memory kept &free:", self.ram_margin)
        form.addRow("&Quantize on:", self.device)
        form.addRow("&Colours:", self.theme)
        for widget, name in ((self.output_dir, "output_dir"), (self.threads, "threads"),
                             (self.vram_margin, "vram_margin_mib"), (self.ram_margin, "ram_margin_mib"),
                             (self.device, "device"), (self.theme, "theme")):
            widget.setToolTip(OPTIONS[name].description)
        note = QLabel("Hugging Face tokens are never stored here; log in with <code>hf auth login</code>.")
        note.setWordWrap(True)
        note.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    @staticmethod
    def _spin(low: int, high: int, value: int, *, suffix: str = "", step: int = 1, special: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        if special:
            spin.setSpecialValueText(special)
        spin.setValue(value)
        return spin

    def values(self) -> dict[str, object]:
        """What the form holds, as the raw values ``Settings.set`` validates."""
        return {
            "output_dir": self.output_dir.text().strip(),
            "default_types": ",".join(name for name, box in self.type_boxes.items() if box.isChecked()),
            "threads": self.threads.value(),
            "vram_margin_mib": self.vram_margin.value(),
            "ram_margin_mib": self.ram_margin.value(),
            "device": self.device.currentData(),
            "theme": self.theme.currentData(),
        }

    def accept(self) -> None:
        values = self.values()
        try:
            self._check(values)
        except UsageError as e:
            show_error(e, self)
            return
        for name, value in values.items():
            self._settings.set(name, str(value))
        self._settings.sync()
        super().accept()

    def _check(self, values: dict[str, object]) -> None:
        """Parse every value first, so a bad one stores nothing."""
        for name, value in values.items():
            try:
                OPTIONS[name].parse(str(value))
            except (ValueError, UsageError) as e:
                label = name.replace("_", " ").replace(" mib", "")
                raise UsageError(f"The {label} setting is not valid: {e}", "Correct it, then press OK.") from e

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output_dir.text())
        if folder:
            self.output_dir.setText(str(Path(folder)))
