"""What happens to an exception nobody caught: expected errors become a plain dialog, bugs a crash report.

A ``QuantpickError`` is something the user can act on (a damaged file, a full disk), so the dialog shows
its two sentences and hides the traceback behind "Show Details...". Anything else is a bug: the traceback
goes to a crash log file whose path the dialog names, so the report can be attached to an issue.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from engine.errors import QuantpickError
from engine.version import __version__

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class ErrorReport:
    """An exception as the user sees it.

    Attributes:
        title: Window title.
        text: What happened, one or two plain sentences.
        hint: What to do about it.
        details: The traceback, for the "Details" expander.
        crash_log: Where the crash report was saved (bugs only; None if it could not be written).
        expected: True for QuantpickError, False for a bug.
    """

    title: str
    text: str
    hint: str
    details: str
    crash_log: Path | None
    expected: bool


def write_crash_log(log_dir: Path, details: str) -> Path | None:
    """Save a crash report with versions and the traceback; None if even that fails."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = log_dir / f"crash-{stamp}-{os.getpid()}.log"
    header = (
        f"Quantpick {__version__}\nPython {sys.version.split()[0]} on {platform.platform()}\n"
        f"Time {time.strftime('%Y-%m-%d %H:%M:%S')}\n\n"
    )
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(header + details, encoding="utf-8")
    except OSError:
        log.exception("Could not write the crash report to %s", path)
        return None
    return path


def report_for(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, *,
               log_dir: Path) -> ErrorReport:
    """Turn an exception into what the dialog says; writes the crash log for bugs."""
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    if isinstance(exc, QuantpickError):
        return ErrorReport("Quantpick", exc.message, exc.hint, details, None, True)
    crash_log = write_crash_log(log_dir, details)
    where = (f"The details were saved to {crash_log}." if crash_log is not None
             else "The details could not be saved to a file; copy them from below.")
    return ErrorReport(
        "Quantpick: unexpected problem",
        f"Quantpick ran into a problem it did not expect ({exc_type.__name__}: {exc}).",
        f"{where} Please attach them when you report this. You can keep working, but restarting Quantpick "
        "is the safest choice.",
        details, crash_log, False,
    )


def show_report(report: ErrorReport, parent: QWidget | None = None) -> QMessageBox:
    """Open the dialog without blocking: a message, a hint, and the traceback behind "Show Details..."."""
    box = QMessageBox(parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setIcon(QMessageBox.Icon.Warning if report.expected else QMessageBox.Icon.Critical)
    box.setWindowTitle(report.title)
    box.setText(report.text)
    box.setInformativeText(report.hint)
    box.setDetailedText(report.details)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()
    return box


def show_error(error: QuantpickError, parent: QWidget | None = None) -> QMessageBox:
    """Show an error that was caught on purpose, the same way the hook shows an uncaught one."""
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return show_report(ErrorReport("Quantpick", error.message, error.hint, details, None, True), parent)


class ExceptHook:
    """``sys.excepthook`` for the app: log, then show one dialog at a time on the GUI thread.

    Args:
        log_dir: Where crash reports go.
        parent: Returns the window to centre dialogs on (or None).
        present: Shows a report (tests replace it to avoid real dialogs).
    """

    def __init__(self, *, log_dir: Path, parent: Callable[[], QWidget | None] = lambda: None,
                 present: Callable[[ErrorReport, QWidget | None], object] = show_report) -> None:
        self.log_dir = log_dir
        self._parent = parent
        self._present = present
        self._showing = False
        self.reports: list[ErrorReport] = []  # every report shown, newest last

    def __call__(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        if isinstance(exc, QuantpickError):
            log.warning("%s", exc, exc_info=(exc_type, exc, tb))
        else:
            log.critical("Unexpected error", exc_info=(exc_type, exc, tb))
        report = report_for(exc_type, exc, tb, log_dir=self.log_dir)
        self.reports.append(report)
        on_gui_thread = threading.current_thread() is threading.main_thread()
        if self._showing or not on_gui_thread or QApplication.instance() is None:
            return  # logged; one dialog at a time, and never from a worker thread
        self._showing = True
        try:
            shown = self._present(report, self._parent())
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            log.exception("Could not show the error dialog")
            shown = None
        if isinstance(shown, QMessageBox):
            shown.finished.connect(self._on_dialog_finished)
        else:
            self._showing = False

    def _on_dialog_finished(self, _result: int) -> None:
        self._showing = False


def install(hook: ExceptHook) -> Callable[..., object]:
    """Make ``hook`` the process's excepthook (threads' uncaught errors are logged through it too)."""
    previous = sys.excepthook
    sys.excepthook = hook

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    threading.excepthook = thread_hook
    return previous


def uninstall(previous: Callable[..., object]) -> None:
    """Put back the hooks that were there before ``install``."""
    sys.excepthook = previous  # type: ignore[assignment]
    threading.excepthook = threading.__excepthook__
