"""The screenshot script still drives the app: one scene, one theme, real PNGs of the window's size."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from app import screenshots
from app.theme import apply_theme

pytestmark = pytest.mark.gui


def test_convert_scene_writes_a_full_window_png(qtbot, tmp_path: Path) -> None:
    try:
        assert screenshots.main(["--out", str(tmp_path), "--themes", "dark", "--scenes", "convert-drop"]) == 0
    finally:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        apply_theme(app, "system")
    [png] = list(tmp_path.iterdir())
    assert png.name == "convert-drop-dark.png"
    image = QImage(str(png))
    assert (image.width(), image.height()) == screenshots.WINDOW_SIZE
    assert image.pixelColor(5, image.height() // 2).lightness() < 128  # the dark palette was used
