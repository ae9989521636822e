"""Dressing the engine's recommendation for the table: verdicts, texts, bars, commands, model descriptions."""

from __future__ import annotations

import pytest

from app.widgets.memory_usage import Part
from app.widgets.model_choice import ChoiceKind, ModelChoice
from app.widgets.recommend_rows import (
    OptionRow, RecommendInputs, Verdict, compute, context_steps, describe_choice, memory_usage,
)
from engine.errors import UnsupportedInputError
from engine.hardware import PRESETS
from engine.hub import GGUFVariant, ModelDetails, RepoFile, Source, load_catalog
from tests.conftest import GOLDEN

LLAMA3 = "meta-llama/Meta-Llama-3-8B-Instruct"


def _catalog_choice(repo_id: str = LLAMA3) -> ModelChoice:
    entry = load_catalog().get(repo_id)
    assert entry is not None
    return ModelChoice(ChoiceKind.CATALOG, entry.repo_id, entry.name, catalog=entry)


@pytest.fixture(scope="module")
def rtx3060():
    return compute(RecommendInputs(PRESETS["rtx3060-12gb"], _catalog_choice(), n_ctx=8192, min_tokens_per_s=10))


def test_rows_follow_the_engine_and_mark_its_pick(rtx3060) -> None:
    rec = rtx3060.recommendation
    assert [r.file_type for r in rtx3060.rows] == [o.file_type for o in rec.options]
    (best,) = [r for r in rtx3060.rows if r.recommended]
    assert best.option is rec.best and rtx3060.best_row is best
    assert best.verdict is Verdict.GPU and best.option.tokens_per_s >= 10
    q4 = rtx3060.row("Q4_K_M")
    assert q4 is not None and q4.layers_text() == "33 of 33" and q4.context_text() == "8 192"
    assert q4.type_tooltip().startswith("Q4_K_M: 4-bit K-quant, medium")
    assert q4.quality_text() == "+0.175 ppl, very good"
    assert q4.commands is not None and "-ngl 33" in q4.commands.llama_server
    assert "Q4_K_M.gguf" in q4.commands.llama_server and "PARAMETER num_ctx 8192" in q4.commands.ollama_modelfile


def test_a_split_row_says_what_was_traded(rtx3060) -> None:
    bf16 = rtx3060.row("BF16")
    assert bf16 is not None and bf16.verdict is Verdict.SPLIT
    assert "layers run on the CPU" in bf16.verdict_tooltip()
    placed = bf16.option.fit.placement.n_gpu_layers
    assert bf16.layers_text() == f"{placed} of 33" and placed < 33


def test_memory_bars_carry_the_fit_numbers(rtx3060) -> None:
    row = rtx3060.row("Q4_K_M")
    gpu, ram = memory_usage(row, PRESETS["rtx3060-12gb"])
    mem = row.option.fit.memory.gpus[0]
    parts = dict(gpu.parts)
    assert (parts[Part.WEIGHTS], parts[Part.KV], parts[Part.COMPUTE]) == (mem.model, mem.context, mem.compute)
    assert gpu.capacity == PRESETS["rtx3060-12gb"].gpus[0].total_bytes and not gpu.over
    assert ram.label == "RAM" and dict(ram.parts)[Part.OTHER] == 6 * 1024**3


def test_nothing_fits_on_a_small_laptop() -> None:
    result = compute(RecommendInputs(PRESETS["laptop-8gb"], _catalog_choice(), n_ctx=8192))
    assert all(r.verdict is Verdict.NONE for r in result.rows) and result.best_row is None
    assert all(r.commands is None and r.layers_text() == "-" for r in result.rows)


def test_cpu_only_machine_rows_are_cpu_only() -> None:
    small = next(e for e in load_catalog().entries if e.params < 2e9)
    result = compute(RecommendInputs(PRESETS["cpu-64gb-ddr5"], _catalog_choice(small.repo_id), n_ctx=4096))
    fitting = [r for r in result.rows if r.verdict is not Verdict.NONE]
    assert fitting and all(r.verdict is Verdict.CPU and r.layers_text() == "none" for r in fitting)


def test_ready_gguf_variants_attach_to_rows() -> None:
    entry = load_catalog().get(LLAMA3)
    shard = RepoFile("Meta-Llama-3-8B-Instruct-Q4_K_M.gguf", 4_920_734_016)
    details = ModelDetails("bartowski/Meta-Llama-3-8B-Instruct-GGUF", Source.HUB,
                           gguf_variants=(GGUFVariant("Q4_K_M", "Q4_K_M", (shard,), shard.size),))
    choice = ModelChoice(ChoiceKind.HUB, details.repo_id, details.repo_id, details=details, catalog=entry)
    result = compute(RecommendInputs(PRESETS["rtx4090-24gb"], choice, n_ctx=8192))
    row = result.row("Q4_K_M")
    assert isinstance(row, OptionRow) and row.variant is not None and row.size_text() == "4.6 GiB"
    assert "-m Meta-Llama-3-8B-Instruct-Q4_K_M.gguf" in row.commands.llama_server
    assert result.row("Q8_0").variant is None


def test_describe_local_folder_and_unknown_hub_repo() -> None:
    folder = GOLDEN / "convert" / "hf-tiny-llama-spm"
    desc = describe_choice(ModelChoice(ChoiceKind.LOCAL, str(folder), folder.name))
    assert desc.source == "hf" and desc.tensors
    unknown = ModelChoice(ChoiceKind.HUB, "x/y-GGUF", "x/y-GGUF", details=ModelDetails("x/y-GGUF", Source.HUB))
    with pytest.raises(UnsupportedInputError, match="cannot size x/y-GGUF"):
        describe_choice(unknown)


def test_context_steps_end_at_the_trained_context() -> None:
    assert context_steps(8192)[-1] == 8192 and context_steps(8192)[0] == 512
    assert context_steps(40960)[-2:] == [32768, 40960]
    assert context_steps(None)[-1] == 131072
