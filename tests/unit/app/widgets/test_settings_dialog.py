"""The settings dialog stores all valid values on OK, and nothing when one is invalid."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from app.settings import Settings
from app.widgets.settings_dialog import SettingsDialog

pytestmark = pytest.mark.gui


def make(qtbot, tmp_path: Path) -> tuple[SettingsDialog, Settings]:
    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    return dialog, settings


def test_ok_stores_every_field(qtbot, tmp_path: Path) -> None:
    dialog, settings = make(qtbot, tmp_path)
    dialog.output_dir.setText(str(tmp_path / "models"))
    dialog.type_boxes["Q4_K_M"].setChecked(False)
    dialog.type_boxes["Q5_K_M"].setChecked(True)
    dialog.type_boxes["Q8_0"].setChecked(True)
    dialog.threads.setValue(2)
    dialog.vram_margin.setValue(512)
    dialog.ram_margin.setValue(4096)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.accept()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert settings.output_dir() == tmp_path / "models"
    assert [ft.name for ft in settings.default_types()] == ["Q5_K_M", "Q8_0"]
    assert settings.threads() == 2 and settings.theme() == "dark"
    assert settings.vram_margin_bytes() == 512 << 20 and settings.ram_margin_bytes() == 4096 << 20


def test_invalid_value_stores_nothing_and_says_why(qtbot, tmp_path: Path) -> None:
    dialog, settings = make(qtbot, tmp_path)
    dialog.show()
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    for box in dialog.type_boxes.values():
        box.setChecked(False)
    dialog.accept()
    assert dialog.isVisible() and settings.theme() == "system"
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert boxes and "default types setting is not valid" in boxes[-1].text()
    for box in boxes:
        box.close()
