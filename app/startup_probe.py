"""Start-up probe: seconds from process start to the main window's first paint, printed, then quit.

The target is a window painted in under 2 s. Measure from source with ``python -m app.startup_probe``, and
from the frozen bundle with ``QUANTPICK_STARTUP_PROBE=1 dist/quantpick/quantpick`` (packaging's entry
script arms the probe). Both print one line, ``quantpick-startup first_paint_s=1.234``, and exit 0.

The clock starts when the OS created the process (interpreter or bootloader start included), not when
this module was imported; on Linux that is read exactly from /proc, elsewhere from psutil.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

ENV_VAR = "QUANTPICK_STARTUP_PROBE"
LINE_PREFIX = "quantpick-startup first_paint_s="


def requested() -> bool:
    """Whether the environment asks for the probe (any value but empty or 0)."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


def seconds_since_process_start() -> float:
    """Wall time since the OS started this process."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 (starttime), counted after "pid (comm)"
        uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        import psutil

        return time.time() - psutil.Process().create_time()


class FirstPaintProbe(QObject):
    """Application-wide event filter: on the first paint inside a QMainWindow, report and quit.

    It quits on the next turn of the event loop, so the whole first frame has been painted by then.
    """

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._app = app
        self._fired = False
        self.elapsed_s: float | None = None
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (
            not self._fired
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and isinstance(watched.window(), QMainWindow)
        ):
            self._fired = True
            QTimer.singleShot(0, self._report)
        return False

    def _report(self) -> None:
        self.elapsed_s = seconds_since_process_start()
        self._app.removeEventFilter(self)
        print(f"{LINE_PREFIX}{self.elapsed_s:.3f}", flush=True)
        self._app.exit(0)


def install_if_requested(app: QCoreApplication) -> FirstPaintProbe | None:
    """Arm the probe on ``app`` when QUANTPICK_STARTUP_PROBE is set; otherwise do nothing."""
    return FirstPaintProbe(app) if requested() else None


def arm(argv: Sequence[str] | None = None) -> FirstPaintProbe:
    """Create the QApplication the app will reuse (``QApplication.instance()``) and arm the probe on it."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv[:1]))
    return FirstPaintProbe(app)


def main() -> int:
    """``python -m app.startup_probe``: open the app exactly as ``quantpick`` does, with the probe armed."""
    from app.launcher import main as launcher_main

    probe = arm()
    status = launcher_main([])
    return status if probe.elapsed_s is not None else 1


if __name__ == "__main__":
    sys.exit(main())
