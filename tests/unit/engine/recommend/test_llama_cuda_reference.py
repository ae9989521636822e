"""Our memory model, fit and speed estimate against llama.cpp's CUDA build on an H100 (recorded runs).

data/llama_cpp_cuda_h100_runs.json (from gpu_validation.sh via parse_gpu_validation.py; see data/README.md)
holds three full-size header-only models (SmolLM2-135M Q8_0, Llama-3-8B Q4_K, Qwen3-30B-A3B Q4_K), llama.cpp's
dry-run bytes for CUDA0 and the host in 21 settings, what llama-fit-params chose for simulated smaller cards,
and llama-bench's speeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.formats.ggml_types import GGMLType
from engine.hardware.profile import GIB, MIB, CpuInfo, GpuDevice, HardwareProfile
from engine.quant.rules import TensorSpec
from engine.recommend import ContextParams, FitRequest, estimate, fit, weight_plan
from engine.recommend.fit import Fit
from engine.recommend.model import ModelDescription, from_gguf_metadata
from engine.recommend.placement import Placement
from engine.recommend.speed import estimate_speed

DATA = Path(__file__).parent / "data" / "llama_cpp_cuda_h100_runs.json"
REFERENCE = json.loads(DATA.read_text())
DEV = REFERENCE["device"]
H100 = GpuDevice(DEV["name"], "cuda", DEV["total_mib"] * MIB, DEV["free_mib_nvml"] * MIB,
                 float(DEV["bandwidth_bytes_s"]), DEV["compute_capability"], DEV["driver"])
# The CPU side of the device machine; its RAM bandwidth was not measured, so no CPU speed is checked.
HW = HardwareProfile("h100", CpuInfo("Intel Xeon", 16, 16, ("avx2", "avx512f")), 128 * GIB, 120 * GIB, 200e9,
                     (H100,))

# Runs not matched to the byte: the compute buffer of partial offload, where the scheduler splits the graph at
# every CPU weight and copies graph inputs in at the split that first reads them. Our replay places those copies
# at the same points but not every fragment of ggml-alloc's free list comes out the same.
TOLERANCE = {
    ("smol", "-c 8192 -ngl 10 -fa on", False): 0.005,   # ours -0.33%
    ("l8b", "-c 8192 -ngl 20 -fa on -np 4", True): 0.01,  # ours -0.76%
    ("moe", "-c 8192 -ngl 30 -fa on", False): 0.001,     # ours -512 bytes
}


def _desc(name: str) -> ModelDescription:
    model = REFERENCE["models"][name]
    tensors = [TensorSpec(n, tuple(shape), GGMLType[t]) for n, shape, t in model["tensors"]]
    return from_gguf_metadata(model["metadata"], tensors, name=name)


def _options(args: str) -> tuple[dict[str, str], set[str]]:
    words = args.split()
    opts: dict[str, str] = {}
    flags: set[str] = set()
    i = 0
    while i < len(words):
        if i + 1 < len(words) and not words[i + 1].startswith("-"):
            opts[words[i]] = words[i + 1]
            i += 2
        else:
            flags.add(words[i])
            i += 1
    return opts, flags


def _setup(run: dict[str, Any]) -> tuple[ModelDescription, ContextParams, Placement]:
    desc = _desc(run["model"])
    opt, flags = _options(run["args"])
    kwargs: dict[str, Any] = dict(
        n_ctx=int(opt["-c"]), flash_attn=opt["-fa"] == "on", type_k=GGMLType[opt.get("-ctk", "f16").upper()],
        type_v=GGMLType[opt.get("-ctv", "f16").upper()], n_ubatch=int(opt.get("-ub", 512)),
        offload_kqv="-nkvo" not in flags,
    )
    if run["llama_server_slots"]:
        params = ContextParams.llama_server(**kwargs)
    else:
        params = ContextParams(n_seq=int(opt.get("-np", 1)), **kwargs)
    ngl = min(int(opt.get("-ngl", 99)), desc.n_layer + 1)
    return desc, params, Placement(ngl, (ngl,), int(opt.get("--n-cpu-moe", 0)))


def _ids(run: dict[str, Any]) -> str:
    return f"{run['model']} {run['args']}{' server' if run['llama_server_slots'] else ''}"


@pytest.mark.parametrize("run", REFERENCE["runs"], ids=_ids)
def test_per_device_memory_matches_llama_cpp_cuda(run: dict[str, Any]) -> None:
    desc, params, placement = _setup(run)
    est = estimate(desc, weight_plan(desc), params, [H100], placement)
    ours = {"CUDA0": est.gpus[0], "Host": est.host}
    tolerance = TOLERANCE.get((run["model"], run["args"], run["llama_server_slots"]), 0.0)
    for device, want in run["llama_cpp"].items():
        for part in ("model", "context", "compute"):
            got = getattr(ours[device], part)
            if part == "compute" and device == "CUDA0" and tolerance:
                assert got == pytest.approx(want[part], rel=tolerance), (device, part)
            else:
                assert got == want[part], (device, part)


def test_driver_reserve_is_what_llama_cpp_saw() -> None:
    from engine.recommend.fit import DRIVER_RESERVE

    assert DEV["free_mib_nvml"] - DEV["free_mib_llama_cpp"] == DRIVER_RESERVE["cuda"] // MIB


def _fit_request(entry: dict[str, Any]) -> FitRequest:
    opt, _ = _options(entry["args"])
    n_ctx = int(opt["-c"])  # set by the user, so llama.cpp keeps it and trades layers only
    return FitRequest(n_ctx=n_ctx, n_ctx_min=n_ctx, context=ContextParams(), gpu_margin=entry["margin_mib"] * MIB)


@pytest.mark.parametrize("entry", [f for f in REFERENCE["fits"] if f["model"] != "moe"],
                         ids=lambda f: f"{f['model']} {f['budget_mib']}MiB {f['args']}")
def test_fit_chooses_llama_cpps_gpu_layers(entry: dict[str, Any]) -> None:
    desc = _desc(entry["model"])
    got = fit(desc, weight_plan(desc), HW, _fit_request(entry))
    want = entry["n_gpu_layers"]
    if want == -1:  # llama.cpp: "no changes needed", everything stays on the GPU
        assert got.mode == "gpu"
    else:
        assert got.placement.n_gpu_layers == want


@pytest.mark.parametrize("entry", [f for f in REFERENCE["fits"] if f["model"] == "moe"],
                         ids=lambda f: f"moe {f['budget_mib']}MiB")
def test_moe_fit_moves_as_many_expert_layers_as_llama_cpp(entry: dict[str, Any]) -> None:
    """llama.cpp moves whole layers' experts plus the gate and down experts of one more layer; we move only
    whole layers, so we keep that partial layer's up-experts (a third of it) off the GPU too: one more layer."""
    desc = _desc("moe")
    got = fit(desc, weight_plan(desc), HW, _fit_request(entry))
    cpu = entry["cpu_expert_layers"]
    assert got.placement.n_gpu_layers == desc.n_layer + 1
    assert got.placement.n_cpu_moe == len(cpu["full"]) + len(cpu["partial_gate_down"])


FULL_OFFLOAD_TG = [b for b in REFERENCE["bench"] if b["n_gen"] and b["n_gpu_layers"] >= 99]


@pytest.mark.parametrize("bench", FULL_OFFLOAD_TG, ids=lambda b: b["model"])
def test_decode_speed_within_15_percent_of_llama_bench(bench: dict[str, Any]) -> None:
    desc = _desc(bench["model"])
    plan = weight_plan(desc)
    placement = Placement(desc.n_layer + 1, (desc.n_layer + 1,))
    memory = estimate(desc, plan, ContextParams(n_ctx=512), [H100], placement)
    speed = estimate_speed(desc, plan, Fit("gpu", 512, placement, memory), HW, context_tokens=bench["n_gen"] // 2)
    assert speed.tokens_per_s == pytest.approx(bench["avg_ts"], rel=0.15)
