"""Keyboard access: among the widgets visible together, each mnemonic is used once.

Qt only fires a mnemonic for visible widgets, so hidden tab pages do not count. The main window's own
menus and tabs (Alt+F/V/H/T, M/R/J, and S for the log pane) are avoided by the embedded widgets too.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from PySide6.QtWidgets import QAbstractButton, QLabel, QTabWidget, QWidget, QWizard

from app.widgets.hardware_editor import HardwareEditorDialog
from app.wizard.fit_wizard import FitWizard
from app.wizard.state import Step
from engine.hardware import PRESETS

_MNEMONIC = re.compile(r"&([^&\s])")


def mnemonics(root: QWidget, extra: list[str] = ()) -> Counter[str]:
    """Mnemonic letters of the buttons, buddied labels and tab titles reachable under ``root``."""
    texts = [b.text() for b in root.findChildren(QAbstractButton) if b.isVisibleTo(root)]
    texts += [lbl.text() for lbl in root.findChildren(QLabel) if lbl.buddy() is not None and lbl.isVisibleTo(root)]
    for tabs in root.findChildren(QTabWidget):
        texts += [tabs.tabText(i) for i in range(tabs.count())]
    found = Counter()
    for text in [*texts, *extra]:
        found.update(m.lower() for m in _MNEMONIC.findall(text))
    return found


@pytest.mark.gui
@pytest.mark.parametrize("step", list(Step))
def test_wizard_page_mnemonics_are_unique(qtbot, fake_hub, step: Step) -> None:
    wizard = FitWizard(hardware=PRESETS["rtx3060-12gb"], client=fake_hub)
    qtbot.addWidget(wizard)
    buttons = [wizard.buttonText(b) for b in (QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton)]
    page = wizard.page(step)
    if page.isCommitPage():
        buttons[1] = page.buttonText(QWizard.WizardButton.CommitButton)
    counts = mnemonics(page, buttons)
    assert counts and not [k for k, n in counts.items() if n > 1], counts


MAIN_WINDOW = ["&File", "&View", "&Hardware", "&Tools", "&Models", "&Recommendation", "Convert and &jobs", "&Show:"]


@pytest.mark.gui
def test_embedded_widgets_avoid_the_main_windows_mnemonics(qtbot, fake_hub) -> None:
    from app.widgets.hardware_panel import HardwarePanel
    from app.widgets.model_picker import ModelPicker
    from app.widgets.recommend_view import RecommendView

    panel = HardwarePanel(profile=PRESETS["rtx3060-12gb"])
    picker = ModelPicker(client=fake_hub)
    view = RecommendView()
    for widget in (panel, picker, view):
        qtbot.addWidget(widget)
    dock = [panel._menu_button.text()]
    for tab in range(picker.tabs.count()):
        picker.tabs.setCurrentIndex(tab)
        counts = mnemonics(picker, MAIN_WINDOW + dock)
        assert not [k for k, n in counts.items() if n > 1], (tab, counts)
    counts = mnemonics(view, MAIN_WINDOW + dock)
    assert not [k for k, n in counts.items() if n > 1], counts


@pytest.mark.gui
def test_hardware_editor_mnemonics_are_unique(qtbot) -> None:
    dialog = HardwareEditorDialog(PRESETS["2x-rtx3090"])
    qtbot.addWidget(dialog)
    counts = mnemonics(dialog)
    assert not [k for k, n in counts.items() if n > 1], counts
