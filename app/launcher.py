"""The ``quantpick`` console script: no arguments opens the desktop app, a command runs headless.

It lives in ``app`` so that the engine never imports the app: the engine's CLI receives the GUI launcher
as a callable. Qt is imported only when the window is actually opened.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from engine.cli.main import EXIT_ERROR, _one_line
from engine.cli.main import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quantpick`` script."""
    return cli_main(argv, gui=launch_gui)


def launch_gui() -> int:
    """Open the desktop app; if Qt cannot load, say so in one line and return 2.

    Imported at call time so that headless commands never load PySide6.
    """
    if _no_display():
        print(
            "quantpick: the desktop app cannot start because no display was found (DISPLAY and "
            "WAYLAND_DISPLAY are unset). Use the commands instead: quantpick --help",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        app_main = importlib.import_module("app.main")
        return int(app_main.run())
    except ImportError as e:
        print(
            f"quantpick: the desktop app cannot start because Qt (PySide6) is not available ({e}). "
            "Install Quantpick with 'make run', or use the commands: quantpick --help",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except (OSError, RuntimeError) as e:
        print(
            f"quantpick: the desktop app cannot start ({_one_line(str(e))}). "
            "On a machine without a display, use the commands: quantpick --help",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _no_display() -> bool:
    """On Linux, Qt aborts the whole process (no exception) when it finds no display; catch that first."""
    if not sys.platform.startswith("linux"):
        return False
    return not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
