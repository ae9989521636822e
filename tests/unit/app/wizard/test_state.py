"""Wizard rules without Qt: when a page may be left, which actions exist, what request goes out."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.widgets.model_choice import ChoiceKind, ModelChoice
from app.widgets.recommend_rows import compute
from app.widgets.requests import ConversionRequest, DownloadRequest
from app.wizard.state import ActionKind, Priority, ReadyFile, Step, WizardState
from engine.hardware import PRESETS
from engine.hub import GGUFVariant, ModelDetails, RepoFile, Source, load_catalog
from tests.conftest import GOLDEN

QWEN = "Qwen/Qwen3-8B"


def _catalog_state(**kw) -> WizardState:
    entry = load_catalog().get(QWEN)
    model = ModelChoice(ChoiceKind.CATALOG, entry.repo_id, entry.name, catalog=entry)
    state = WizardState(hardware=PRESETS["rtx3060-12gb"], model=model, **kw)
    state.result = compute(state.inputs())
    return state


def test_speed_floor_is_the_higher_of_priority_and_minimum() -> None:
    state = WizardState()
    assert state.speed_floor == Priority.BALANCED.floor == 10
    state.priority = Priority.QUALITY
    assert state.speed_floor == 0
    state.min_tokens_per_s = 20
    assert state.speed_floor == 20
    state.priority = Priority.SPEED
    assert state.speed_floor == 30


def test_pages_say_what_is_missing() -> None:
    state = WizardState()
    assert "hardware" in state.missing(Step.HARDWARE)
    state.hardware = PRESETS["cpu-16gb"]
    assert state.missing(Step.HARDWARE) is None
    assert "Pick a model" in state.missing(Step.MODEL)
    assert "Wait for the recommendation" in state.missing(Step.RECOMMENDATION)
    assert state.inputs() is None


def test_priority_changes_the_pick() -> None:
    quality = _catalog_state(priority=Priority.QUALITY)
    speed = _catalog_state(priority=Priority.SPEED)
    q_best, s_best = quality.chosen_row(), speed.chosen_row()
    assert q_best.option.quality.ppl_increase < s_best.option.quality.ppl_increase
    assert s_best.option.tokens_per_s >= 30


def test_catalog_model_converts_from_the_original_repo(tmp_path: Path) -> None:
    state = _catalog_state()
    assert state.missing(Step.RECOMMENDATION) is None
    assert state.actions() == [ActionKind.CONVERT]
    assert "Choose whether" in state.missing(Step.ACTION)
    state.action, state.out_dir = ActionKind.CONVERT, tmp_path
    request = state.request()
    assert isinstance(request, ConversionRequest) and request.needs_download and request.repo_id == QWEN
    assert request.ftype.name == state.chosen_row().file_type
    assert f"-m {tmp_path}/Qwen3-8B-{request.ftype.name}.gguf" in request.run_command


def test_a_ready_file_enables_download_only_for_its_type() -> None:
    state = _catalog_state()
    shard = RepoFile("Qwen3-8B-Q4_K_M.gguf", 5_027_783_488)
    state.choose("Q4_K_M")
    state.ready = ReadyFile("Qwen/Qwen3-8B-GGUF", GGUFVariant("Q4_K_M", "Q4_K_M", (shard,), shard.size))
    assert state.actions() == [ActionKind.DOWNLOAD, ActionKind.CONVERT]
    state.action = ActionKind.DOWNLOAD
    request = state.request()
    assert isinstance(request, DownloadRequest) and request.repo_id == "Qwen/Qwen3-8B-GGUF"
    assert request.run_command.startswith("llama-server -m Qwen3-8B-Q4_K_M.gguf")
    state.choose("Q6_K")
    assert state.ready is None and ActionKind.DOWNLOAD not in state.actions()


def test_rows_that_do_not_fit_cannot_be_chosen() -> None:
    entry = load_catalog().get(QWEN)
    model = ModelChoice(ChoiceKind.CATALOG, entry.repo_id, entry.name, catalog=entry)
    state = WizardState(hardware=PRESETS["laptop-8gb"], model=model)
    state.result = compute(state.inputs())
    assert state.chosen_row() is None
    state.choose("Q2_K")
    assert "does not fit" in state.missing(Step.RECOMMENDATION)


def test_local_folder_and_gguf_only_repo() -> None:
    folder = GOLDEN / "convert" / "hf-tiny-llama-spm"
    state = WizardState(hardware=PRESETS["cpu-16gb"], model=ModelChoice(ChoiceKind.LOCAL, str(folder), folder.name))
    assert state.conversion_source() == (folder, None)
    gguf_only = ModelChoice(ChoiceKind.HUB, "x/y-GGUF", "x/y-GGUF", details=ModelDetails("x/y-GGUF", Source.HUB))
    assert WizardState(model=gguf_only).conversion_source() is None
    with pytest.raises(ValueError):
        WizardState(model=gguf_only).request()
