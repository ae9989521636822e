"""Token-generation speed from memory bandwidth: a roofline, not a benchmark.

Generating one token reads every active weight once and the KV cache written so far. Each device streams
its share at its bandwidth times an efficiency factor; devices run one after another (layer split), so the
times add. A small per-layer cost stands for kernel launches, which dominate tiny models on fast GPUs.
Mixture-of-experts layers read only the experts a token is routed to.

The CUDA constants were calibrated on an H100 80GB HBM3 (3.35 TB/s) against llama-bench tg128 with full
offload (llama.cpp 0c1e570, flash attention): SmolLM2-135M Q8_0 910 tok/s, Llama-3-8B Q4_K 289 tok/s,
Qwen3-30B-A3B Q4_K 305 tok/s. Two unknowns from the two dense models give 0.55 of peak bandwidth and 34 us per
layer (per-token launch and sync costs, which dominate small models); MoE layers launch about 1.4x the kernels
(router, top-k, three expert matmuls, weighted sum), which the MoE model fixes. Those were 3 points for 3
constants, so they reproduce them by construction; consumer cards reach a higher fraction of their bandwidth
(RTX 4090 + Llama-3-8B Q4_K_M about 130-150 tok/s, 0.6-0.7 of 1008 GB/s), so expect this to be conservative
there. The other backends' factors come from public results (M2 Max about 0.7 of 400 GB/s; desktop DDR5 about
0.65 of peak) and are not yet checked against llama-bench.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.hardware.profile import GpuDevice, HardwareProfile
from engine.recommend.fit import Fit
from engine.recommend.model import ModelDescription
from engine.recommend.placement import CPU
from engine.recommend.weights import WeightPlan

EFFICIENCY: dict[str, float] = {"cuda": 0.55, "rocm": 0.50, "metal": 0.70, "vulkan": 0.45, "sycl": 0.40, "cpu": 0.65}
LAYER_OVERHEAD_S: dict[str, float] = {"cuda": 34e-6, "rocm": 10e-6, "metal": 10e-6, "vulkan": 15e-6, "sycl": 20e-6,
                                      "cpu": 2e-6}
UNKNOWN_GPU_BANDWIDTH = 300e9
KV_FILL = 0.5  # the KV cache is, on average over a conversation, half full
MOE_LAYER_COST = 1.4  # an MoE layer's fixed cost relative to a dense one (more kernels per token)


@dataclass(frozen=True, slots=True)
class SpeedEstimate:
    """Generation speed and the bytes behind it.

    Attributes:
        tokens_per_s: estimated decode speed at a half-full context.
        bytes_per_token: per device (GPUs in order, then the host), bytes read for one token.
        basis: one sentence saying how the number was obtained.
    """

    tokens_per_s: float
    bytes_per_token: tuple[int, ...]
    basis: str


def _active_fraction(desc: ModelDescription, name: str) -> float:
    if desc.n_expert and "_exps." in name:
        return desc.n_expert_used / desc.n_expert
    return 1.0


def _bytes_per_device(desc: ModelDescription, plan: WeightPlan, fit: Fit, n_gpus: int,
                      context_tokens: int | None) -> list[float]:
    devices = fit.placement.devices(desc.n_layer) if n_gpus else (CPU,) * (desc.n_layer + 1)
    out = [0.0] * (n_gpus + 1)
    for t in plan.tensors:
        if t.layer < 0:
            continue  # token embeddings: one row per token
        dev = devices[t.layer]
        if t.is_expert and t.layer < fit.placement.n_cpu_moe:
            dev = CPU
        if t.name == "output.weight (tied)" and dev == CPU:
            continue
        out[dev if dev != CPU else n_gpus] += t.nbytes * _active_fraction(desc, t.name)
    kv = fit.memory.kv
    for il in range(desc.n_layer):
        dev = devices[il]
        cells = kv.cells(il, desc.swa_layers[il])
        fill = KV_FILL if context_tokens is None else min(context_tokens, cells) / cells if cells else 0.0
        out[dev if dev != CPU else n_gpus] += kv.layer_bytes(il) * fill
    return out


def _bandwidth(gpu: GpuDevice) -> float:
    return gpu.bandwidth_bytes_s or UNKNOWN_GPU_BANDWIDTH


def estimate_speed(desc: ModelDescription, plan: WeightPlan, fit: Fit, hw: HardwareProfile, *,
                   context_tokens: int | None = None) -> SpeedEstimate:
    """Decode tokens per second of ``plan`` laid out as ``fit`` on ``hw``.

    ``context_tokens`` is how many tokens the KV cache holds on average while generating (64 for llama-bench's
    tg128 on an empty context); None means a half-full context.
    """
    gpus: Sequence[GpuDevice] = hw.gpus
    per_dev = _bytes_per_device(desc, plan, fit, len(gpus), context_tokens)
    layer_cost = MOE_LAYER_COST if desc.is_moe else 1.0
    devices = fit.placement.devices(desc.n_layer) if gpus else (CPU,) * (desc.n_layer + 1)
    seconds = 0.0
    for i, gpu in enumerate(gpus):
        if per_dev[i]:
            layers = sum(1 for d in devices[: desc.n_layer] if d == i)
            seconds += per_dev[i] / (_bandwidth(gpu) * EFFICIENCY.get(gpu.backend, 0.5))
            seconds += layers * layer_cost * LAYER_OVERHEAD_S.get(gpu.backend, 10e-6)
    if per_dev[-1]:
        cpu_bw = hw.ram_bandwidth_bytes_s * EFFICIENCY["cpu"]
        layers = sum(1 for d in devices[: desc.n_layer] if d == CPU)
        seconds += per_dev[-1] / cpu_bw + layers * layer_cost * LAYER_OVERHEAD_S["cpu"]
    tps = 1.0 / seconds if seconds > 0 else 0.0
    basis = "memory-bandwidth roofline: " + ", ".join(
        f"{b / 1e9:.2f} GB/token on {name}" for b, name in zip(per_dev, [g.name for g in gpus] + ["CPU"]) if b
    )
    return SpeedEstimate(tps, tuple(int(b) for b in per_dev), basis)
