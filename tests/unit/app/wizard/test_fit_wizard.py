"""The wizard walks end to end offscreen: a preset, a catalog model, goals, the recommendation, an action,
and Done with the command. The Hub is a fake; hardware is a preset or a fake probe."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWizard

from app.widgets.model_choice import ChoiceKind
from app.widgets.requests import ConversionRequest, DownloadRequest
from app.wizard.fit_wizard import FitWizard
from app.wizard.state import Priority, Step
from engine.hardware import PRESETS
from tests.conftest import GOLDEN

QWEN = "Qwen/Qwen3-8B"


def _pick_catalog_model(qtbot, wizard: FitWizard, repo_id: str) -> None:
    picker = wizard.page(Step.MODEL).picker
    picker.show_tab(ChoiceKind.CATALOG)
    qtbot.waitUntil(lambda: picker.catalog_tab.table.records.rowCount() > 0, timeout=5000)
    row = [e.repo_id for e in picker.catalog_tab.table.visible_records()].index(repo_id)
    with qtbot.waitSignal(picker.model_selected, timeout=5000):
        picker.catalog_tab.table.select_row(row)


def _to_recommendation(qtbot, wizard: FitWizard, repo_id: str = QWEN) -> None:
    assert wizard.currentId() == Step.HARDWARE and wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    wizard.next()
    assert wizard.currentId() == Step.MODEL and not wizard.currentPage().isComplete()
    _pick_catalog_model(qtbot, wizard, repo_id)
    assert wizard.currentPage().isComplete()
    wizard.next()
    assert wizard.currentId() == Step.GOALS
    wizard.next()
    assert wizard.currentId() == Step.RECOMMENDATION
    qtbot.waitUntil(lambda: wizard.state.result is not None, timeout=10000)
    assert wizard.currentPage().isComplete()


@pytest.mark.gui
def test_walk_end_to_end_with_a_preset_and_the_catalog_converting(qtbot, fake_hub) -> None:
    wizard = FitWizard(hardware=PRESETS["rtx3060-12gb"], client=fake_hub)
    qtbot.addWidget(wizard)
    wizard.show()
    _to_recommendation(qtbot, wizard)
    view = wizard.page(Step.RECOMMENDATION).view
    best = wizard.state.result.best_row
    assert view.selected_row() is best and "Recommended:" in view.explanation.text()
    assert best.option.tokens_per_s >= Priority.BALANCED.floor
    view.select_file_type("Q6_K")
    assert wizard.state.chosen_row().file_type == "Q6_K"
    wizard.next()
    assert wizard.currentId() == Step.ACTION
    action = wizard.currentPage()
    qtbot.waitUntil(lambda: "No ready-made file" in action.download_info.text(), timeout=5000)
    assert not action.download.isEnabled() and action.convert.isChecked()
    with qtbot.waitSignal(wizard.conversion_requested) as blocker:
        wizard.next()
    request = blocker.args[0]
    assert isinstance(request, ConversionRequest) and request.ftype.name == "Q6_K" and request.repo_id == QWEN
    assert wizard.currentId() == Step.DONE
    done = wizard.currentPage()
    assert done.command.toPlainText() == request.run_command
    assert request.run_command.startswith("llama-server -m Qwen3-8B-Q6_K.gguf -c 8192 -ngl 37")
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()  # the request went out once
    done._on_copy_clicked()
    assert QGuiApplication.clipboard().text() == request.run_command


@pytest.mark.gui
def test_walk_downloads_a_ready_file_from_the_catalogs_gguf_repo(qtbot, fake_hub) -> None:
    wizard = FitWizard(hardware=PRESETS["rtx3060-12gb"], client=fake_hub)
    qtbot.addWidget(wizard)
    wizard.show()
    _to_recommendation(qtbot, wizard)
    wizard.page(Step.RECOMMENDATION).view.select_file_type("Q4_K_M")  # the fake's GGUF repos offer Q4_K_M
    wizard.next()
    action = wizard.currentPage()
    qtbot.waitUntil(lambda: action.download.isEnabled(), timeout=5000)
    assert action.download.isChecked() and "Q4_K_M.gguf" in action.download_info.text()
    assert threading.main_thread().name not in fake_hub.threads
    with qtbot.waitSignal(wizard.download_requested) as blocker:
        wizard.next()
    request = blocker.args[0]
    assert isinstance(request, DownloadRequest) and request.variant.quant == "Q4_K_M"
    assert request.repo_id in wizard.state.gguf_repos()
    assert wizard.currentId() == Step.DONE and "Downloading Q4_K_M" in wizard.currentPage().summary.text()
    assert "-ngl 37" in wizard.currentPage().command.toPlainText()


@pytest.mark.gui
def test_goals_reach_the_recommendation(qtbot, fake_hub) -> None:
    wizard = FitWizard(hardware=PRESETS["rtx3060-12gb"], client=fake_hub)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    _pick_catalog_model(qtbot, wizard, QWEN)
    wizard.next()
    goals = wizard.currentPage()
    assert goals.context.itemText(goals.context.count() - 1).endswith("(trained context)")
    goals.context.setCurrentIndex(goals.context.findData(16384))
    goals.priorities.button(list(Priority).index(Priority.SPEED)).click()
    goals.min_speed.setValue(40)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.state.result is not None, timeout=10000)
    inputs = wizard.state.result.inputs
    assert (inputs.n_ctx, inputs.min_tokens_per_s) == (16384, 40)
    assert wizard.state.result.best_row.option.tokens_per_s >= 40


@pytest.mark.gui
def test_hardware_page_probes_off_the_gui_thread_and_local_drop(qtbot, fake_hub) -> None:
    threads: list[str] = []

    def probe():
        threads.append(threading.current_thread().name)
        return PRESETS["cpu-64gb-ddr5"].renamed("detected")

    wizard = FitWizard(client=fake_hub, detect_fn=probe)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.state.hardware is not None, timeout=5000)
    assert threads and threads[0] != threading.main_thread().name
    wizard.next()
    page = wizard.currentPage()
    with qtbot.waitSignal(page.picker.model_selected, timeout=5000):
        page.picker.open_path(GOLDEN / "convert" / "hf-tiny-llama-spm")
    wizard.next()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.state.result is not None, timeout=10000)
    assert all(r.verdict.name in ("CPU", "NONE") for r in wizard.state.result.rows)
    wizard.next()
    assert wizard.currentPage().convert.isChecked() and "From " in wizard.currentPage().convert_info.text()
