"""The script PyInstaller freezes: the same ``quantpick`` entry point a pip install gets (app.launcher).

No arguments opens the window, a command runs headless. Two additions for the bundle:

* Opening files. A file manager runs ``quantpick MODEL.gguf`` (the .desktop file, the Windows file
  association, and the Finder through argv emulation), and the CLI would read that path as an unknown
  command. When every argument is an existing .gguf or .safetensors file, this script opens the window
  and hands the files to it (``MainWindow.open_paths``, which is what a drop does). On macOS, files
  opened while the app is already running arrive as QFileOpenEvent and take the same way.
* The start-up probe. With QUANTPICK_STARTUP_PROBE set and no arguments, the window opens with
  app/startup_probe.py armed: it prints the seconds to the first painted frame and quits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

OPENABLE_SUFFIXES = (".gguf", ".safetensors")


def openable_files(args: Sequence[str]) -> list[Path]:
    """The arguments as paths when all of them are existing model files, else [] (a command line)."""
    paths = [Path(arg) for arg in args]
    if paths and all(p.suffix.lower() in OPENABLE_SUFFIXES and p.is_file() for p in paths):
        return [p.resolve() for p in paths]
    return []


def has_display() -> bool:
    """False on Linux without any display, where creating a QApplication would abort the process."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def deliver(paths: list[Path]) -> bool:
    """Give ``paths`` to the main window (the shown top-level widget with ``open_paths``); False if none."""
    from PySide6.QtWidgets import QApplication

    for widget in QApplication.topLevelWidgets():
        if widget.isVisible() and callable(getattr(widget, "open_paths", None)):
            widget.open_paths(paths)
            return True
    return False


def install_file_open(app: object, initial: list[Path]) -> object:
    """Hand ``initial`` to the window once the event loop runs, and every later QFileOpenEvent too.

    Returns the event filter, which must stay referenced while the app runs.
    """
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FileOpenFilter(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.FileOpen:
                path = Path(event.file())  # type: ignore[attr-defined]
                if path.suffix.lower() in OPENABLE_SUFFIXES:
                    return deliver([path])
            return False

    keeper = FileOpenFilter(app)  # type: ignore[arg-type]
    app.installEventFilter(keeper)  # type: ignore[attr-defined]
    if initial:
        QTimer.singleShot(0, lambda: deliver(initial))
    return keeper


def main() -> int:
    """Run Quantpick; return the exit status."""
    from app.launcher import main as launcher_main

    args = sys.argv[1:]
    files = openable_files(args)
    if args and not files:
        return launcher_main(args)  # a command, or --help / --version
    if not has_display():
        return launcher_main([])  # the launcher explains in one line
    if os.environ.get("QUANTPICK_STARTUP_PROBE", "") not in ("", "0"):
        from app.startup_probe import arm
    else:
        arm = None
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    probe = arm() if arm is not None else None
    keeper = install_file_open(app, files)
    status = launcher_main([])
    del keeper, probe
    return status


if __name__ == "__main__":
    sys.exit(main())
