"""Start the desktop app: one QApplication, the main window, and a clean exit code."""

from __future__ import annotations

import sys


def run(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop until it closes."""
    from PySide6.QtWidgets import QApplication

    from app.widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Quantpick")
    app.setOrganizationName("Quantpick")
    window = MainWindow()
    window.show()
    return int(app.exec())
