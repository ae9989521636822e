"""Ready-to-run settings for the chosen fit: llama-server flags, an Ollama Modelfile, LM Studio settings, and
what the same GPUs would hold in other quantization formats (GPTQ/AWQ 4-bit, EXL2).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from engine.formats.ggml_types import GGMLType
from engine.recommend.fit import Fit, FitRequest, gpu_budgets
from engine.recommend.model import ModelDescription
from engine.hardware.profile import HardwareProfile

# GPTQ/AWQ at 4 bits with group size 128 store an f16 scale and a packed 4-bit zero per group.
GPTQ_BITS_PER_WEIGHT = 4 + (16 + 4) / 128
EXL2_MIN_BPW, EXL2_MAX_BPW = 2.0, 8.0


@dataclass(frozen=True, slots=True)
class RunCommands:
    """Settings that reproduce a fit in three popular runners."""

    llama_server: str
    ollama_modelfile: str
    lm_studio: str


@dataclass(frozen=True, slots=True)
class SeedFormats:
    """For a GPU-only machine: would a 4-bit GPTQ/AWQ fit, and which EXL2 bits-per-weight fills the VRAM.

    ``exl2_bpw`` is None when even EXL2's 2.0 bpw does not fit (or there is no GPU).
    """

    gptq_awq_4bit_bytes: int
    gptq_awq_4bit_fits: bool
    exl2_bpw: float | None


def _kv_name(t: GGMLType) -> str:
    return t.name.lower()


def run_commands(desc: ModelDescription, fit: Fit, req: FitRequest, *, gguf_name: str) -> RunCommands:
    """The three runners' settings for ``fit`` (``gguf_name`` is the model file as the user will have it)."""
    p = fit.placement
    ctx = req.context
    args = ["llama-server", "-m", gguf_name, "-c", str(fit.n_ctx), "-ngl", str(p.n_gpu_layers)]
    if p.ts_arg:
        args += ["-ts", p.ts_arg]
    if p.n_cpu_moe:
        args += ["--n-cpu-moe", str(p.n_cpu_moe)]
    args += ["-fa", "on" if ctx.flash_attn else "off"]
    if ctx.type_k != GGMLType.F16 or ctx.type_v != GGMLType.F16:
        args += ["-ctk", _kv_name(ctx.type_k), "-ctv", _kv_name(ctx.type_v)]
    if not ctx.kv_unified:  # llama-server's own default is 4 slots sharing one KV pool
        args += ["-np", str(ctx.n_seq)]
    modelfile = "\n".join([
        f"FROM ./{gguf_name}",
        f"PARAMETER num_ctx {fit.n_ctx}",
        f"PARAMETER num_gpu {p.n_gpu_layers}",
    ])
    offload = "all" if p.n_gpu_layers >= desc.n_layer + 1 else f"{min(p.n_gpu_layers, desc.n_layer)}/{desc.n_layer}"
    lm = [f"GPU offload: {offload} layers", f"Context length: {fit.n_ctx}",
          f"Flash attention: {'on' if ctx.flash_attn else 'off'}"]
    if ctx.type_k != GGMLType.F16:
        lm.append(f"K cache quantization: {_kv_name(ctx.type_k)}; V cache: {_kv_name(ctx.type_v)}")
    if p.n_cpu_moe:
        lm.append(f"Number of layers for which to force MoE weights onto CPU: {p.n_cpu_moe}")
    return RunCommands(shlex.join(args), modelfile, "; ".join(lm))


def seed_formats(desc: ModelDescription, fit: Fit, hw: HardwareProfile, req: FitRequest) -> SeedFormats | None:
    """GPTQ/AWQ and EXL2 sizing for the same context, or None without a CUDA/ROCm GPU."""
    if not hw.gpus or fit.mode == "none" or any(g.backend not in ("cuda", "rocm") for g in hw.gpus):
        return None  # GPTQ/AWQ/EXL2 runners need CUDA or ROCm
    budget = sum(gpu_budgets(hw.gpus, req.gpu_margin))
    overhead = sum(g.context + g.compute for g in fit.memory.gpus)
    embed = 0
    linear = 0
    for t in desc.tensors:
        n = 1
        for d in t.shape:
            n *= d
        if len(t.shape) == 1:
            embed += n * 4
        elif t.name in ("token_embd.weight", "output.weight"):
            embed += n * 2  # both formats keep embeddings and the head in 16 bits
        else:
            linear += n
    if desc.tied_embeddings:
        embed += desc.n_embd * desc.n_vocab * 2
    room = budget - overhead - embed
    gptq = int(linear * GPTQ_BITS_PER_WEIGHT / 8) + embed
    bpw = 8 * room / linear if linear else 0.0
    exl2 = None if bpw < EXL2_MIN_BPW else round(min(bpw, EXL2_MAX_BPW), 2)
    return SeedFormats(gptq, gptq + overhead <= budget, exl2)
