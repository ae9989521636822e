"""A dialog to describe hardware by hand ("what if I had a 24 GB card?"), starting from any profile."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.widgets.hardware_text import BACKENDS, edited_profile, gpu_fields, gpu_from_fields
from app.widgets.units import GIB
from engine.errors import UsageError
from engine.hardware import GpuDevice, HardwareProfile

COLUMNS = ("Name", "Backend", "Total GiB", "Free GiB", "Bandwidth GB/s", "Unified")
NEW_GPU = GpuDevice(name="New GPU", backend="cuda", total_bytes=8 * GIB, free_bytes=8 * GIB, bandwidth_bytes_s=300e9)


def _spin(maximum: float, value: float, suffix: str, decimals: int = 1) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


class HardwareEditorDialog(QDialog):
    """Edit RAM, CPU cores and the GPU list of a profile; ``profile()`` returns the result after accept."""

    def __init__(self, base: HardwareProfile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Custom hardware")
        self._base = base
        self._result: HardwareProfile | None = None
        self._name = QLineEdit(base.name if base.name != "detected" else "custom")
        self._ram_total = _spin(4096, base.ram_total_bytes / GIB, " GiB")
        self._ram_avail = _spin(4096, base.ram_available_bytes / GIB, " GiB")
        self._ram_bw = _spin(10000, base.ram_bandwidth_bytes_s / 1e9, " GB/s", 0)
        self._cores = QSpinBox()
        self._cores.setRange(1, 1024)
        self._cores.setValue(base.cpu.physical_cores)
        self._table = QTableWidget(0, len(COLUMNS))
        self._table.setHorizontalHeaderLabels(COLUMNS)
        self._table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setTabKeyNavigation(False)  # Tab leaves the table; arrows and F2 edit inside it
        self._table.setToolTip("Backend is one of: " + ", ".join(BACKENDS) + ". Leave bandwidth empty if unknown.")
        for gpu in base.gpus:
            self._append(gpu)
        self._error = QLabel()
        self._error.setWordWrap(True)
        self._error.setStyleSheet("color: palette(highlighted-text); background: #b3261e; padding: 4px;")
        self._error.hide()
        self._build_layout()

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("&Name:", self._name)
        form.addRow("RAM &installed:", self._ram_total)
        form.addRow("RAM &available:", self._ram_avail)
        form.addRow("RAM &bandwidth:", self._ram_bw)
        form.addRow("CPU &cores:", self._cores)
        add = QPushButton("Add &GPU")
        add.clicked.connect(self._on_add_clicked)
        remove = QPushButton("&Remove GPU")
        remove.clicked.connect(self._on_remove_clicked)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        gpus_label = QLabel("GPU &list (double-click or F2 to edit a cell):")
        gpus_label.setBuddy(self._table)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(gpus_label)
        layout.addWidget(self._table)
        layout.addLayout(row)
        layout.addWidget(self._error)
        layout.addWidget(buttons)
        self.resize(720, 440)

    def _append(self, gpu: GpuDevice) -> None:
        row = self._table.rowCount()
        self._table.insertRow(row)
        for col, text in enumerate(gpu_fields(gpu)):
            self._table.setItem(row, col, QTableWidgetItem(text))
        self._table.item(row, 0).setData(Qt.ItemDataRole.UserRole, gpu)  # keeps driver, compute capability
        check = QCheckBox()
        check.setChecked(gpu.unified)
        check.setToolTip("The GPU shares system RAM (Apple Silicon, integrated graphics).")
        self._table.setCellWidget(row, len(COLUMNS) - 1, check)

    def _on_add_clicked(self) -> None:
        self._append(NEW_GPU)
        self._table.setCurrentCell(self._table.rowCount() - 1, 0)

    def _on_remove_clicked(self) -> None:
        row = self._table.currentRow()
        if row >= 0:
            self._table.removeRow(row)

    def _gpus(self) -> list[GpuDevice]:
        gpus = []
        for row in range(self._table.rowCount()):
            cells = [(self._table.item(row, c).text() if self._table.item(row, c) else "") for c in range(5)]
            check = self._table.cellWidget(row, len(COLUMNS) - 1)
            unified = isinstance(check, QCheckBox) and check.isChecked()
            base = self._table.item(row, 0).data(Qt.ItemDataRole.UserRole) if self._table.item(row, 0) else None
            gpus.append(gpu_from_fields(cells, unified=unified, base=base if isinstance(base, GpuDevice) else None))
        return gpus

    def build(self) -> HardwareProfile:
        """The profile the fields describe.

        Raises:
            UsageError: a field is not a valid value (the message names it).
        """
        return edited_profile(
            self._base, name=self._name.text(), ram_total_gib=self._ram_total.value(),
            ram_available_gib=self._ram_avail.value(), ram_bandwidth_gbs=self._ram_bw.value(),
            cores=self._cores.value(), gpus=self._gpus(),
        )

    def accept(self) -> None:
        try:
            self._result = self.build()
        except UsageError as e:
            self._error.setText(str(e))
            self._error.show()
            return
        super().accept()

    def profile(self) -> HardwareProfile | None:
        """The edited profile once the dialog was accepted, else None."""
        return self._result

