"""Themes: light and dark palettes are applied and readable; "system" restores the platform style."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.theme import apply_theme, is_dark

pytestmark = pytest.mark.gui


def test_light_dark_and_back(qtbot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.style().name()
    try:
        apply_theme(app, "dark")
        assert is_dark(app.palette()) and app.style().name().lower() == "fusion"
        text = app.palette().color(QPalette.ColorRole.Text)
        assert text.lightness() > 200
        apply_theme(app, "light")
        assert not is_dark(app.palette())
    finally:
        apply_theme(app, "system")
    assert app.style().name() == original
