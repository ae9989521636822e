"""The hardware panel shows presets, probes off the GUI thread, and edits custom hardware."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QLabel

from app.widgets.hardware_editor import HardwareEditorDialog
from app.widgets.hardware_panel import HardwarePanel
from app.widgets.units import GIB
from engine.hardware import PRESETS


def _texts(panel: HardwarePanel) -> str:
    return "\n".join(label.text() for label in panel.findChildren(QLabel))


@pytest.mark.gui
def test_panel_shows_a_preset(qtbot) -> None:
    panel = HardwarePanel(profile=PRESETS["rtx3060-12gb"])
    qtbot.addWidget(panel)
    text = _texts(panel)
    assert "Simulated: rtx3060-12gb" in text
    assert "NVIDIA GeForce RTX 3060" in text and "11.7 GiB free of 12.0 GiB" in text and "360 GB/s" in text
    assert "26.0 GiB available of 32.0 GiB" in text and "AMD Ryzen 7 5800X" in text and "Disk:" in text


@pytest.mark.gui
def test_simulate_menu_switches_presets(qtbot) -> None:
    panel = HardwarePanel(profile=PRESETS["cpu-16gb"])
    qtbot.addWidget(panel)
    actions = [a for a in panel.menu().actions() if a.data() == "2x-rtx3090"]
    with qtbot.waitSignal(panel.profile_changed) as blocker:
        actions[0].trigger()
    assert blocker.args[0] is PRESETS["2x-rtx3090"]
    assert _texts(panel).count("RTX 3090") == 2
    assert "none (models run on the CPU)" not in _texts(panel)


@pytest.mark.gui
def test_detect_runs_off_the_gui_thread(qtbot) -> None:
    threads: list[str] = []

    def fake_detect():
        threads.append(threading.current_thread().name)
        return PRESETS["cpu-16gb"].renamed("detected")

    panel = HardwarePanel(detect_fn=fake_detect)
    qtbot.addWidget(panel)
    assert panel.profile() is None
    with qtbot.waitSignal(panel.profile_changed, timeout=5000):
        panel.detect()
        assert "Checking this computer" in _texts(panel)
    assert threads and threads[0] != threading.main_thread().name
    assert "This computer" in _texts(panel) and "none (models run on the CPU)" in _texts(panel)


@pytest.mark.gui
def test_custom_editor_builds_a_profile_and_rejects_bad_cells(qtbot) -> None:
    dialog = HardwareEditorDialog(PRESETS["rtx3060-12gb"])
    qtbot.addWidget(dialog)
    dialog._on_add_clicked()
    dialog._table.item(1, 0).setText("RTX 4090")
    dialog._table.item(1, 2).setText("24")
    dialog._table.item(1, 3).setText("23")
    profile = dialog.build()
    assert [g.name for g in profile.gpus] == ["NVIDIA GeForce RTX 3060", "RTX 4090"]
    assert profile.gpus[0].compute_capability == "8.6"  # kept from the probe/preset
    assert profile.gpus[1].free_bytes == 23 * GIB
    dialog._table.item(1, 3).setText("lots")
    dialog.accept()
    assert dialog.profile() is None and "must be a number" in dialog._error.text()
    dialog._table.setCurrentCell(1, 0)
    dialog._on_remove_clicked()
    dialog.accept()
    assert dialog.profile() is not None and len(dialog.profile().gpus) == 1
