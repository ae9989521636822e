"""The start-up probe: off unless asked, fires once on the first paint of a main window, reports, quits."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from app import startup_probe
from app.startup_probe import LINE_PREFIX, FirstPaintProbe, install_if_requested


def test_clock_counts_from_process_start() -> None:
    code = "import time; time.sleep(0.3); from app.startup_probe import seconds_since_process_start as s; print(s())"
    before = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    outer = time.monotonic() - before
    assert 0.3 <= float(out) <= outer + 0.05


def test_off_unless_the_variable_is_set(qapp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(startup_probe.ENV_VAR, raising=False)
    assert install_if_requested(qapp) is None
    monkeypatch.setenv(startup_probe.ENV_VAR, "0")
    assert install_if_requested(qapp) is None


@pytest.mark.gui
def test_reports_first_main_window_paint_and_quits(
    qtbot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = QApplication.instance()
    exits: list[int] = []
    monkeypatch.setattr(app, "exit", exits.append)
    monkeypatch.setenv(startup_probe.ENV_VAR, "1")
    probe = install_if_requested(app)
    assert isinstance(probe, FirstPaintProbe)
    other = QWidget()  # a paint outside a main window does not count
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    qtbot.wait(50)
    assert probe.elapsed_s is None
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: probe.elapsed_s is not None, timeout=5000)
    assert exits == [0]
    line = capsys.readouterr().out.strip()
    assert line.startswith(LINE_PREFIX) and float(line.removeprefix(LINE_PREFIX)) == pytest.approx(
        probe.elapsed_s, abs=0.001
    )
    window.update()
    qtbot.wait(50)
    assert exits == [0]  # fires once
