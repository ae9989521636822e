"""The recommendation view: live updates from the context slider and KV type, the memory bar for the
selected row, copy buttons, and download/convert requests."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QGuiApplication

from app.widgets.memory_bar import PART_COLORS
from app.widgets.memory_usage import Part
from app.widgets.model_choice import ChoiceKind, ModelChoice
from app.widgets.recommend_view import RecommendView
from app.widgets.requests import ConversionRequest, DownloadRequest
from engine.hardware import PRESETS
from engine.hub import GGUFVariant, ModelDetails, RepoFile, Source, load_catalog

QWEN = "Qwen/Qwen3-8B"


def _choice(repo_id: str = QWEN, *, variants: tuple[GGUFVariant, ...] = ()) -> ModelChoice:
    entry = load_catalog().get(repo_id)
    assert entry is not None
    if not variants:
        return ModelChoice(ChoiceKind.CATALOG, entry.repo_id, entry.name, catalog=entry)
    details = ModelDetails(f"{repo_id}-GGUF", Source.HUB, gguf_variants=variants)
    return ModelChoice(ChoiceKind.HUB, details.repo_id, details.repo_id, details=details, catalog=entry)


def _view(qtbot, choice: ModelChoice, preset: str = "rtx3060-12gb") -> RecommendView:
    view = RecommendView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.recommendation_changed, timeout=10000):
        view.set_hardware(PRESETS[preset])
        view.set_model(choice)
    return view


def _kv_bytes(view: RecommendView, file_type: str) -> int:
    row = view.result().row(file_type)
    return row.option.fit.memory.gpus[0].context


@pytest.mark.gui
def test_context_slider_updates_the_table(qtbot) -> None:
    view = _view(qtbot, _choice())
    view.set_context(4096)
    qtbot.waitUntil(lambda: view.result().inputs.n_ctx == 4096, timeout=10000)
    small = view.result()
    assert small.row("Q8_0").option.fit.n_ctx == 4096 and small.best_row.file_type == "Q8_0"
    shown_small = [view.rows.data(view.rows.index(r, 4)) for r in range(view.rows.rowCount())]
    with qtbot.waitSignal(view.recommendation_changed, timeout=10000):
        view.slider.setValue(view.slider.maximum())  # Qwen3-8B's trained context, 40960
    big = view.result()
    assert big.inputs.n_ctx == big.description.n_ctx_train == 40960
    assert view.context_label.text() == "40k tokens"
    assert _kv_bytes(view, "Q4_K_M") > 9 * small.row("Q4_K_M").option.fit.memory.gpus[0].context
    q8 = big.row("Q8_0")
    assert 4096 < q8.option.fit.n_ctx < 40960 and "context reduced" in q8.verdict_tooltip()
    assert big.best_row.file_type != "Q8_0"  # the pick moves to a smaller type that keeps more context
    shown_big = [view.rows.data(view.rows.index(r, 4)) for r in range(view.rows.rowCount())]
    assert shown_big != shown_small and view.rows.rowCount() == len(big.rows)


@pytest.mark.gui
def test_kv_type_halves_the_cache(qtbot) -> None:
    view = _view(qtbot, _choice())
    view.set_context(8192)
    qtbot.waitUntil(lambda: view.result().inputs.n_ctx == 8192, timeout=10000)
    f16 = _kv_bytes(view, "Q4_K_M")
    with qtbot.waitSignal(view.recommendation_changed, timeout=10000):
        view.set_kv_type("q8_0")
    q8 = _kv_bytes(view, "Q4_K_M")
    assert 0.5 < q8 / f16 < 0.56  # q8_0 stores 34 bytes per 32 values
    assert "-ctk q8_0 -ctv q8_0" in view.command.text()


@pytest.mark.gui
def test_best_row_is_selected_marked_and_explained(qtbot) -> None:
    view = _view(qtbot, _choice())
    best = view.result().best_row
    assert view.selected_row() is best
    assert f"Recommended: {best.file_type}." in view.explanation.text()
    assert view.rows.data(view.rows.index(view.rows.records().index(best), 0)).endswith("(recommended)")
    usage = view.bar.usage()
    assert usage[0].label.startswith("GPU 0") and dict(usage[0].parts)[Part.WEIGHTS] == \
        best.option.fit.memory.gpus[0].model
    view.resize(900, 700)
    image = view.bar.grab().toImage()
    y = view.bar.fontMetrics().height() * 2
    assert PART_COLORS[Part.WEIGHTS] in {QColor(image.pixel(x, y)).name() for x in range(image.width())}
    view.select_file_type("Q2_K")
    assert view.selected_row().file_type == "Q2_K"
    assert dict(view.bar.usage()[0].parts)[Part.WEIGHTS] < dict(usage[0].parts)[Part.WEIGHTS]
    assert view.command.text() == view.selected_row().commands.llama_server


@pytest.mark.gui
def test_copy_download_and_convert(qtbot) -> None:
    shard = RepoFile("Qwen3-8B-Q4_K_M.gguf", 5_027_783_488)
    variant = GGUFVariant("Q4_K_M", "Q4_K_M", (shard,), shard.size)
    view = _view(qtbot, _choice(variants=(variant,)))
    view.select_file_type("Q4_K_M")
    view.copy_server.click()
    assert QGuiApplication.clipboard().text() == view.selected_row().commands.llama_server
    view.copy_ollama.click()
    assert QGuiApplication.clipboard().text().startswith("FROM ./Qwen3-8B-Q4_K_M.gguf")
    assert view.download.isEnabled()
    with qtbot.waitSignal(view.download_requested) as blocker:
        view.download.click()
    request = blocker.args[0]
    assert isinstance(request, DownloadRequest) and request.variant is variant
    assert request.repo_id == "Qwen/Qwen3-8B-GGUF" and "Qwen3-8B-Q4_K_M.gguf" in request.run_command
    view.select_file_type("Q8_0")
    assert not view.download.isEnabled()
    with qtbot.waitSignal(view.convert_requested) as blocker:
        view.convert.click()
    conversion = blocker.args[0]
    assert isinstance(conversion, ConversionRequest) and conversion.ftype.name == "Q8_0"
    assert conversion.needs_download and conversion.repo_id == "Qwen/Qwen3-8B-GGUF"


@pytest.mark.gui
def test_unsizable_model_explains_instead_of_crashing(qtbot) -> None:
    view = RecommendView()
    qtbot.addWidget(view)
    unknown = ModelChoice(ChoiceKind.HUB, "x/y", "x/y", details=ModelDetails("x/y", Source.HUB))
    with qtbot.waitSignal(view.recommendation_changed, timeout=3000, raising=False) as blocker:
        view.set_hardware(PRESETS["rtx3060-12gb"])
        view.set_model(unknown)
    assert not blocker.signal_triggered
    qtbot.waitUntil(lambda: "No recommendation" in view.explanation.text(), timeout=5000)
    assert "cannot size x/y" in view.explanation.text() and view.rows.rowCount() == 0
    assert not view.copy_server.isEnabled()
