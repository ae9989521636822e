"""Ranking, the one-sentence reason, and the ready-to-run settings."""

from __future__ import annotations

from engine.hardware import PRESETS
from engine.recommend import FitRequest, recommend
from engine.recommend.quality import quality_of
from engine.recommend.source import from_catalog, resolve
from tests.conftest import GOLDEN

LLAMA_8B = from_catalog("meta-llama/Llama-3.1-8B-Instruct")


def test_quality_scale_from_llama_quantize() -> None:
    assert quality_of("Q4_K_M").ppl_increase == 0.1754 and quality_of("Q4_K_M").grade == "very good"
    assert quality_of("Q8_0").grade == "lossless" and quality_of("Q2_K").grade == "heavy loss"
    assert quality_of("IQ4_XS").estimated and not quality_of("Q6_K").estimated


def test_best_quality_that_fits_fast_enough() -> None:
    rec = recommend(LLAMA_8B, PRESETS["rtx3060-12gb"], FitRequest(n_ctx=8192))
    assert rec.best is not None and rec.best.fit.mode == "gpu"
    fitting_gpu = [o for o in rec.options if o.fit.mode == "gpu" and o.tokens_per_s >= 10]
    assert rec.best.quality.rank == min(o.quality.rank for o in fitting_gpu)
    assert rec.best.file_type in rec.explanation and "tokens/s" in rec.explanation
    assert rec.options[0].fit.fits and not rec.options[-1].fit.fits or all(o.fit.fits for o in rec.options)


def test_q8_0_beats_16_bit_when_both_fit() -> None:
    """Below 0.01 perplexity the difference is noise: the smaller, faster Q8_0 wins over BF16/F16."""
    tiny = from_catalog("TinyLlama/TinyLlama-1.1B-Chat-v1.0")
    rec = recommend(tiny, PRESETS["rtx3060-12gb"], FitRequest(n_ctx=2048))
    assert {o.file_type for o in rec.options if o.fit.mode == "gpu"} >= {"Q8_0", "BF16"}
    assert rec.best is not None and rec.best.file_type == "Q8_0"


def test_speed_floor_changes_the_pick() -> None:
    hw = PRESETS["rtx3060-12gb"]
    slow_ok = recommend(LLAMA_8B, hw, FitRequest(n_ctx=8192), min_tokens_per_s=0.0)
    picky = recommend(LLAMA_8B, hw, FitRequest(n_ctx=8192), min_tokens_per_s=30.0)
    assert slow_ok.best is not None and picky.best is not None
    assert picky.best.tokens_per_s >= 30 or "Nothing reaches" in picky.explanation
    assert picky.best.quality.ppl_increase >= slow_ok.best.quality.ppl_increase


def test_commands_and_seed_formats() -> None:
    rec = recommend(LLAMA_8B, PRESETS["2x-rtx3090"], FitRequest(n_ctx=16384))
    assert rec.commands is not None and rec.best is not None
    assert rec.commands.llama_server.startswith("llama-server -m ") and " -ts " in rec.commands.llama_server
    assert "PARAMETER num_ctx 16384" in rec.commands.ollama_modelfile
    assert "Context length: 16384" in rec.commands.lm_studio
    assert rec.seeds is not None and rec.seeds.gptq_awq_4bit_fits and rec.seeds.exl2_bpw is not None
    apple = recommend(LLAMA_8B, PRESETS["m2-max-32gb"], FitRequest(n_ctx=8192))
    assert apple.seeds is None  # GPTQ/AWQ/EXL2 runners need CUDA


def test_a_gguf_is_judged_as_it_is() -> None:
    desc = resolve(str(GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"))
    rec = recommend(desc, PRESETS["cpu-16gb"])
    assert [o.file_type for o in rec.options] == ["Q4_K_M"]
    assert rec.commands is not None and f"-m {desc.name}.gguf" in rec.commands.llama_server
    requant = recommend(desc, PRESETS["cpu-16gb"], file_types=["Q8_0", "Q4_0"])
    assert {o.file_type for o in requant.options} == {"Q8_0", "Q4_0"}


def test_nothing_fits() -> None:
    huge = from_catalog("meta-llama/Llama-3.3-70B-Instruct")
    rec = recommend(huge, PRESETS["laptop-8gb"], FitRequest(n_ctx=4096), file_types=["Q4_K_M", "Q2_K"])
    assert rec.best is None and rec.commands is None and "No file type fits" in rec.explanation
