"""Fitting: context before layers, experts before layers, GPUs back to front, RAM checked."""

from __future__ import annotations

from dataclasses import replace

from engine.hardware import GIB, MIB, PRESETS, GpuDevice, HardwareProfile
from engine.recommend import ContextParams, FitRequest, estimate, fit, weight_plan
from engine.recommend.fit import DRIVER_RESERVE, gpu_budgets
from engine.recommend.placement import Placement
from engine.recommend.source import from_catalog
from tests.unit.engine.recommend.helpers import tiny

LLAMA_1B = from_catalog("meta-llama/Llama-3.2-1B-Instruct")


def _one_gpu(free_mib: int, ram_gib: int = 64) -> HardwareProfile:
    gpu = GpuDevice("Test GPU", "cuda", free_mib * MIB, free_mib * MIB, 500e9)
    return replace(PRESETS["rtx3060-12gb"], gpus=(gpu,), ram_total_bytes=ram_gib * GIB,
                   ram_available_bytes=ram_gib * GIB)


def test_budget_subtracts_driver_and_margin() -> None:
    gpu = _one_gpu(8000).gpus[0]
    assert gpu_budgets([gpu], 1024 * MIB) == [8000 * MIB - DRIVER_RESERVE["cuda"] - 1024 * MIB]


def test_everything_on_the_gpu_when_it_fits() -> None:
    f = fit(LLAMA_1B, weight_plan(LLAMA_1B, "Q4_K_M"), _one_gpu(24000), FitRequest(n_ctx=8192))
    assert f.mode == "gpu" and f.n_ctx == 8192 and f.placement.n_gpu_layers == 17 and f.traded == ()


def test_context_shrinks_before_layers_leave_the_gpu() -> None:
    plan = weight_plan(LLAMA_1B, "Q4_K_M")
    f = fit(LLAMA_1B, plan, _one_gpu(3000), FitRequest(n_ctx=131072))
    assert f.mode == "gpu" and 4096 <= f.n_ctx < 131072 and f.n_ctx % 256 == 0
    assert any("context reduced" in t for t in f.traded)
    budget = gpu_budgets(_one_gpu(3000).gpus, 1024 * MIB)[0]
    assert f.memory.gpus[0].total <= budget
    bigger = fit(LLAMA_1B, plan, _one_gpu(3000), FitRequest(n_ctx=f.n_ctx + 256))
    assert bigger.n_ctx == f.n_ctx  # the next step up would not have fitted


def test_layers_go_to_the_cpu_when_even_the_minimum_context_does_not_fit() -> None:
    plan = weight_plan(LLAMA_1B, "Q8_0")
    f = fit(LLAMA_1B, plan, _one_gpu(2200), FitRequest(n_ctx=8192))
    assert f.mode == "split" and 0 < f.placement.n_gpu_layers < 17 and f.n_ctx >= 4096
    assert f.memory.gpus[0].total <= gpu_budgets(_one_gpu(2200).gpus, 1024 * MIB)[0]
    one_more = replace(f.placement, n_gpu_layers=f.placement.n_gpu_layers + 1,
                       layers_per_gpu=(f.placement.n_gpu_layers + 1,))
    over = estimate(LLAMA_1B, plan, ContextParams(n_ctx=4096), _one_gpu(2200).gpus, one_more)
    assert over.gpus[0].total > gpu_budgets(_one_gpu(2200).gpus, 1024 * MIB)[0]


def test_gpus_fill_from_the_last() -> None:
    gpus = (GpuDevice("A", "cuda", 2200 * MIB, 2200 * MIB, 5e11), GpuDevice("B", "cuda", 2200 * MIB, 2200 * MIB, 5e11))
    hw = replace(PRESETS["2x-rtx3090"], gpus=gpus)
    f = fit(LLAMA_1B, weight_plan(LLAMA_1B, "Q8_0"), hw, FitRequest(n_ctx=4096))
    first, last = f.placement.layers_per_gpu
    assert f.mode == "split" and first > 0 and last > 0
    assert f.placement.devices(LLAMA_1B.n_layer)[-1] == 1  # the output layer sits on the last GPU
    budgets = gpu_budgets(gpus, 1024 * MIB)
    assert all(m.total <= b for m, b in zip(f.memory.gpus, budgets))


def test_moe_experts_leave_before_layers() -> None:
    moe = from_catalog("Qwen/Qwen3-30B-A3B")
    f = fit(moe, weight_plan(moe, "Q4_K_M"), _one_gpu(12000), FitRequest(n_ctx=8192))
    assert f.mode == "split" and f.placement.n_gpu_layers == 49 and 0 < f.placement.n_cpu_moe < 48
    assert any("experts" in t for t in f.traded)


def test_cpu_only_and_ram() -> None:
    desc = tiny()
    ok = fit(desc, weight_plan(desc), PRESETS["laptop-8gb"], FitRequest(n_ctx=2048))
    assert ok.mode == "cpu" and ok.n_ctx == 2048 and ok.placement == Placement(0, ())
    small = replace(PRESETS["laptop-8gb"], ram_available_bytes=2 * GIB)
    nope = fit(LLAMA_1B, weight_plan(LLAMA_1B, "BF16"), small, FitRequest(n_ctx=4096))
    assert not nope.fits and "RAM" in nope.traded[0]


def test_unified_memory_counts_gpu_and_host_against_ram() -> None:
    m2 = PRESETS["m2-max-32gb"]
    plan = weight_plan(LLAMA_1B, "Q8_0")
    assert fit(LLAMA_1B, plan, m2, FitRequest(n_ctx=8192)).mode == "gpu"
    starved = replace(m2, ram_available_bytes=2 * GIB)
    assert not fit(LLAMA_1B, plan, starved, FitRequest(n_ctx=8192)).fits
