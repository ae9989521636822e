"""The model picker: catalog listing, Hub search against a fake client, local files, facts and the signal."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.widgets.model_choice import ChoiceKind
from app.widgets.model_picker import ModelPicker
from app.widgets.model_tabs import LocalTab
from engine.errors import AccessDeniedError
from engine.hub import SortKey
from tests.conftest import GOLDEN


@pytest.mark.gui
def test_catalog_tab_lists_catalog_entries(qtbot, fake_hub) -> None:
    picker = ModelPicker(client=fake_hub)
    qtbot.addWidget(picker)
    picker.show_tab(ChoiceKind.CATALOG)
    qtbot.waitUntil(lambda: picker.catalog_tab.table.records.rowCount() > 0, timeout=5000)
    names = [e.repo_id for e in picker.catalog_tab.table.visible_records()]
    assert names == [e.repo_id for e in fake_hub.catalog.entries]
    picker.catalog_tab.filter.setText("qwen")
    shown = picker.catalog_tab.table.visible_records()
    assert shown and all("qwen" in (e.repo_id + e.name + e.family).lower() for e in shown)
    with qtbot.waitSignal(picker.model_selected, timeout=5000) as blocker:
        picker.catalog_tab.table.select_row(0)
    choice = blocker.args[0]
    assert choice.kind is ChoiceKind.CATALOG and choice.catalog is shown[0]
    assert f"<td>{shown[0].dims.n_layer}</td>" in picker.facts.text()


@pytest.mark.gui
def test_hub_tab_searches_with_filter_sort_and_pages(qtbot, fake_hub) -> None:
    picker = ModelPicker(client=fake_hub)
    qtbot.addWidget(picker)
    tab = picker.hub_tab
    tab.text.setText("llama")
    tab.gguf_only.setChecked(True)
    tab.sort.setCurrentIndex(tab.sort.findData(SortKey.LIKES))
    tab._on_search_clicked()
    qtbot.waitUntil(lambda: tab.table.records.rowCount() == 3, timeout=5000)
    query = fake_hub.queries[-1]
    assert (query.text, query.gguf_only, query.sort, query.page) == ("llama", True, SortKey.LIKES, 0)
    assert threading.main_thread().name not in fake_hub.threads
    assert tab.more.isVisibleTo(picker)
    tab._on_more_clicked()
    qtbot.waitUntil(lambda: tab.table.records.rowCount() == 6, timeout=5000)
    assert fake_hub.queries[-1].page == 1 and not tab.more.isVisibleTo(picker)
    with qtbot.waitSignal(picker.model_selected, timeout=5000) as blocker:
        tab.table.select_row(0)
    choice = blocker.args[0]
    assert choice.kind is ChoiceKind.HUB and choice.repo_id == "org/llama-0-0-GGUF"
    assert [v.name for v in choice.gguf_variants] == ["Q4_K_M"]
    assert "apache-2.0" in picker.facts.text() and "Q4_K_M" in picker.facts.text()


@pytest.mark.gui
def test_hub_errors_show_in_the_facts_card(qtbot, fake_hub) -> None:
    fake_hub.fail_details = AccessDeniedError("meta-llama/X is gated.", "Accept its license first.")
    picker = ModelPicker(client=fake_hub)
    qtbot.addWidget(picker)
    picker.hub_tab._on_search_clicked()
    qtbot.waitUntil(lambda: picker.hub_tab.table.records.rowCount() == 3, timeout=5000)
    picker.hub_tab.table.select_row(1)
    qtbot.waitUntil(lambda: "Could not read this model" in picker.facts.text(), timeout=5000)
    assert "Accept its license first." in picker.facts.text()


@pytest.mark.gui
def test_local_tab_describes_a_checkpoint_and_refuses_pickles(qtbot, fake_hub, tmp_path: Path) -> None:
    folder = GOLDEN / "convert" / "hf-tiny-llama-spm"
    local = LocalTab(ask_folder=lambda w: str(folder), ask_file=lambda w: "")
    picker = ModelPicker(client=fake_hub, local_tab=local)
    qtbot.addWidget(picker)
    with qtbot.waitSignal(picker.model_selected, timeout=5000) as blocker:
        local._on_choose_folder_clicked()
    choice = blocker.args[0]
    assert choice.kind is ChoiceKind.LOCAL and choice.path == folder and choice.local.layers
    pickle = tmp_path / "pytorch_model.bin"
    pickle.write_bytes(b"\x80\x02}q\x00.")
    picker.tabs.setCurrentIndex(0)
    picker.open_path(pickle)
    assert picker.tabs.currentWidget() is local and local.path.text() == str(pickle)
    qtbot.waitUntil(lambda: "Could not read this model" in picker.facts.text(), timeout=5000)
    assert picker.choice() is choice


@pytest.mark.gui
def test_downloaded_tab_lists_the_cache_and_picks_a_convertible_snapshot(qtbot, fake_hub, tmp_path: Path) -> None:
    from engine.hub import CachedModel, RepoFile

    snapshot = tmp_path / "snapshots" / "abc"
    cached = CachedModel("HuggingFaceTB/SmolLM2-135M", snapshot, 270_000_000,
                         (RepoFile("config.json", 700), RepoFile("model.safetensors", 269_000_000)), "abc",
                         convertible=True)
    fake_hub.cached_models = lambda: [cached]
    picker = ModelPicker(client=fake_hub)
    qtbot.addWidget(picker)
    picker.show_tab(ChoiceKind.CACHE)
    qtbot.waitUntil(lambda: picker.cache_tab.table.records.rowCount() == 1, timeout=5000)
    assert "1 model(s)" in picker.cache_tab.status.text()
    with qtbot.waitSignal(picker.model_selected, timeout=5000) as blocker:
        picker.cache_tab.table.select_row(0)
    choice = blocker.args[0]
    assert choice.kind is ChoiceKind.CACHE and choice.cached is cached and choice.path == snapshot
