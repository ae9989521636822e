"""``run()``: the real start-up path opens the window (and the wizard on first start), then exits cleanly.

It runs in a subprocess: once ``QApplication.exec()`` has returned, Qt treats the application as closing,
which would disturb every GUI test after this one in the same process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = r"""
import json, logging, sys
from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication
QStandardPaths.setTestModeEnabled(True)  # settings and logs go to a test location under $HOME
app = QApplication(sys.argv[:1])
from app import main
from app.widgets.hardware_panel import HardwarePanel
from app.widgets.main_window import MainWindow
from app.wizard.fit_wizard import FitWizard
HardwarePanel.detect = lambda self: None  # no probing of the test machine
seen = {}
hook_before = sys.excepthook
def look_then_quit():
    windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    seen["window"] = any(isinstance(w, MainWindow) for w in windows)
    seen["wizard"] = any(isinstance(w, FitWizard) for w in windows)
    seen["hook"] = sys.excepthook is not hook_before
    for window in windows:
        window.close()
    app.quit()
QTimer.singleShot(500, look_then_quit)
seen["exit"] = main.run()
seen["hook_restored"] = sys.excepthook is hook_before
seen["handlers"] = len(logging.getLogger("app").handlers)
print(json.dumps(seen))
"""


def run_app(home: Path) -> dict[str, object]:
    env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_first_start_opens_window_and_wizard_then_exits_cleanly(tmp_path: Path) -> None:
    seen = run_app(tmp_path)
    assert seen == {"window": True, "wizard": True, "hook": True, "exit": 0, "hook_restored": True,
                    "handlers": 0}
    assert list((tmp_path / ".qttest").rglob("quantpick.log"))
    again = run_app(tmp_path)  # the wizard was closed once: it does not open by itself again
    assert again["window"] is True and again["wizard"] is False
