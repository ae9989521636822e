"""Start the desktop app: one QApplication, logging, the excepthook, the theme, the main window.

``run()`` is what ``quantpick`` with no arguments calls (through ``app.launcher``).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOG_FILE_BYTES = 2 << 20


def log_dir() -> Path:
    """Where the log file and crash reports go (the platform's app-data folder)."""
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".quantpick") / "logs"


LOGGERS = ("app", "engine", "quantpick")


def setup_logging(folder: Path) -> list[logging.Handler]:
    """Log to a rotating file (INFO and up) and to the log pane (through the bridge, DEBUG and up).

    Returns the handlers added, for ``teardown_logging``.
    """
    from app.bridge import install_handler

    handlers: list[logging.Handler] = [install_handler()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(folder / "quantpick.log", maxBytes=LOG_FILE_BYTES,
                                                       backupCount=2, encoding="utf-8")
    except OSError as e:
        logging.getLogger(__name__).warning("No log file in %s (%s); the log pane still works.", folder, e)
        return handlers
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
    return handlers + [handler]


def teardown_logging(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        handler.close()


def run(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop until it closes."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import errors
    from app.settings import Settings
    from app.theme import apply_theme
    from app.widgets.main_actions import open_wizard
    from app.widgets.main_window import MainWindow
    from app.widgets.svg_icons import svg_icon

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Quantpick")
    app.setOrganizationName("Quantpick")
    app.setDesktopFileName("quantpick")  # Wayland matches the window to quantpick.desktop and its icon
    app.setWindowIcon(svg_icon("quantpick"))
    folder = log_dir()
    handlers = setup_logging(folder)
    settings = Settings()
    apply_theme(app, settings.theme())
    window = MainWindow(settings=settings)
    previous = errors.install(errors.ExceptHook(log_dir=folder, parent=lambda: window))
    settings.changed.connect(lambda name: apply_theme(app, settings.theme()) if name == "theme" else None)
    window.show()
    _clean_stale_partials_later(settings.output_dir())
    if not settings.wizard_done():
        QTimer.singleShot(0, lambda: open_wizard(window))
    try:
        return int(app.exec())
    finally:
        window.queue.shutdown()
        errors.uninstall(previous)
        teardown_logging(handlers)


def _clean_stale_partials_later(folder: Path) -> None:
    """Remove .partial files a killed conversion of ours left in the output folder, off the GUI thread."""
    import threading

    from engine.convert.cleanup import remove_stale_partials

    threading.Thread(target=remove_stale_partials, args=([folder],), name="stale-partials", daemon=True).start()
