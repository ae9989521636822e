"""The bandwidth roofline, added up by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.hardware import PRESETS
from engine.recommend import FitRequest, fit, weight_plan
from engine.recommend.speed import EFFICIENCY, KV_FILL, LAYER_OVERHEAD_S, estimate_speed
from engine.recommend.placement import Placement
from engine.recommend.source import from_catalog
from tests.unit.engine.recommend.helpers import q8_bytes, tiny


def test_cpu_only_tokens_per_second() -> None:
    desc = tiny()
    plan = weight_plan(desc)
    hw = PRESETS["cpu-16gb"]
    f = fit(desc, plan, hw, FitRequest(n_ctx=1024))
    s = estimate_speed(desc, plan, f, hw)
    weights = sum(t.nbytes for t in plan.tensors if t.layer >= 0)  # every weight but the embedding table
    kv = f.memory.kv.total() * KV_FILL
    seconds = (weights + kv) / (hw.ram_bandwidth_bytes_s * EFFICIENCY["cpu"]) + 2 * LAYER_OVERHEAD_S["cpu"]
    assert s.tokens_per_s == pytest.approx(1 / seconds)
    assert s.bytes_per_token == (int(weights + kv),)


def test_moe_reads_only_routed_experts() -> None:
    dense, moe = tiny(n_expert=0), tiny(n_expert=4)
    hw = PRESETS["cpu-16gb"]
    speeds = []
    for desc in (dense, moe):
        plan = weight_plan(desc)
        speeds.append(estimate_speed(desc, plan, fit(desc, plan, hw, FitRequest(n_ctx=1024)), hw))
    # each expert is as big as the dense FFN and 2 of 4 are read: one extra FFN plus the F32 router per layer
    ffn = 3 * q8_bytes(64 * 128)
    router = 64 * 4 * 4
    assert speeds[1].bytes_per_token[0] - speeds[0].bytes_per_token[0] == 2 * (ffn + router)


def test_gpu_is_faster_than_cpu_and_split_adds_times() -> None:
    desc = from_catalog("meta-llama/Llama-3.2-1B-Instruct")
    plan = weight_plan(desc, "Q4_K_M")
    gpu_hw, cpu_hw = PRESETS["rtx4090-24gb"], PRESETS["cpu-64gb-ddr5"]
    on_gpu = estimate_speed(desc, plan, fit(desc, plan, gpu_hw, FitRequest(n_ctx=1024)), gpu_hw)
    on_cpu = estimate_speed(desc, plan, fit(desc, plan, cpu_hw, FitRequest(n_ctx=1024)), cpu_hw)
    assert on_gpu.tokens_per_s > 5 * on_cpu.tokens_per_s
    assert on_gpu.bytes_per_token[-1] == 0 and "GB/token" in on_gpu.basis
    laptop = PRESETS["rtx4060-laptop-8gb"]
    split = fit(desc, plan, laptop, FitRequest(n_ctx=4096))
    half = estimate_speed(desc, plan, replace(split, placement=Placement(9, (9,))), laptop)
    assert half.bytes_per_token[0] > 0 and half.bytes_per_token[1] > 0  # time on both devices adds up
    assert half.tokens_per_s < estimate_speed(desc, plan, split, laptop).tokens_per_s
