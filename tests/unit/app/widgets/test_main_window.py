"""The main window opens offscreen and names the version."""

from __future__ import annotations

import pytest

from app.widgets.main_window import MainWindow
from engine.version import __version__


@pytest.mark.gui
def test_main_window_shows_version(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert __version__ in window.windowTitle()
