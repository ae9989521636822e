"""Memory per device for one file type, context and layer layout: weights, KV cache, compute buffers.

The three figures are the ones llama.cpp's dry run reports (``llama-fit-params -fitp on``): ``model`` is the
weight buffers, ``context`` the KV cache, ``compute`` the scheduler's buffer. Host figures add the logits
output buffer, which llama.cpp keeps in (pinned) host memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.formats.ggml_types import GGMLType
from engine.hardware.profile import GpuDevice
from engine.recommend.graph import F32, I32, I64, Segment, compute_peak, rotation_inputs
from engine.recommend.kv_cache import ContextParams, KvLayout, kv_layout, pad
from engine.recommend.model import ModelDescription
from engine.recommend.placement import CPU, Placement
from engine.recommend.weights import BufferRules, WeightPlan, rules_for, weight_role

OP_OFFLOAD_MIN_BATCH = 32  # ggml-cuda: ops with at least this many rows run on the GPU even with CPU weights
_QUANTIZED_KV = frozenset({GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1,
                           GGMLType.IQ4_NL})

# CPU weight types llama.cpp repacks into interleaved layouts (ggml-cpu/repack.cpp), by required CPU feature.
REPACK_TYPES: dict[str, frozenset[GGMLType]] = {
    "avx2": frozenset({GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.IQ4_NL}),
    "avx512f": frozenset({GGMLType.Q2_K}),
    "i8mm": frozenset({GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.Q8_0}),
    "dotprod": frozenset({GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.IQ4_NL,
                          GGMLType.Q8_0}),
}


def repack_types(cpu_features: Sequence[str]) -> frozenset[GGMLType]:
    """Weight types the CPU backend would move into its repacked (CPU_REPACK) buffer."""
    out: set[GGMLType] = set()
    for feature, types in REPACK_TYPES.items():
        if feature in cpu_features:
            out |= types
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class DeviceMemory:
    """One device's share: weights, KV cache, compute buffer (bytes).

    ``repacked`` (host only) is the part of ``model`` llama.cpp copies into its CPU_REPACK buffer instead of
    using the memory-mapped file; ``output`` (host only) is the logits buffer.
    """

    name: str
    model: int
    context: int
    compute: int
    repacked: int = 0
    output: int = 0

    @property
    def total(self) -> int:
        return self.model + self.context + self.compute + self.output


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Per GPU (in device order) and the host."""

    gpus: tuple[DeviceMemory, ...]
    host: DeviceMemory
    kv: KvLayout

    @property
    def total(self) -> int:
        return sum(g.total for g in self.gpus) + self.host.total


def _weights(desc: ModelDescription, plan: WeightPlan, devices: Sequence[int], gpus: Sequence[GpuDevice],
             placement: Placement, repack: frozenset[GGMLType]) -> tuple[list[int], int, int]:
    """Weight bytes per GPU, on the host, and the host's repacked part."""
    per_gpu = [0] * len(gpus)
    host = repacked = 0
    cpu_rules = rules_for("cpu")
    out_dev = devices[desc.n_layer]
    for t in plan.tensors:
        dev = CPU if t.layer < 0 else devices[t.layer]
        if t.is_expert and 0 <= t.layer < placement.n_cpu_moe:
            dev = CPU
        if t.name == "output.weight (tied)" and out_dev == CPU:
            continue  # same buffer type as token_embd: llama.cpp shares the tensor
        if dev == CPU:
            size = cpu_rules.alloc_size(t.qtype, t.shape)
            host += size
            if not gpus and t.qtype in repack and len(t.shape) >= 2 and t.layer >= 0 and t.shape[1] % 8 == 0:
                repacked += size
        else:
            per_gpu[dev] += rules_for(gpus[dev].backend).alloc_size(t.qtype, t.shape)
    return per_gpu, host, repacked


def _kv(desc: ModelDescription, kv: KvLayout, devices: Sequence[int], gpus: Sequence[GpuDevice],
        params: ContextParams) -> tuple[list[int], int]:
    per_gpu = [0] * len(gpus)
    host = 0
    for il in range(desc.n_layer):
        dev = devices[il] if params.offload_kqv else CPU
        if dev == CPU:
            host += kv.layer_bytes(il, alignment=32)
        else:
            per_gpu[dev] += kv.layer_bytes(il, alignment=rules_for(gpus[dev].backend).alignment)
    return per_gpu, host


def host_inputs(desc: ModelDescription, params: ContextParams, copies: int = 1) -> int:
    """The graph inputs llama.cpp builds in host memory, plus the token-embedding lookup's output."""
    T = params.n_tokens_pp
    kinds = {desc.swa_layers[il] for il in range(desc.n_layer)}
    v_idx = T * I64 if params.flash_attn else T * desc.n_embd_v_gqa * I64
    mask_elem = 2 if params.flash_attn else F32
    kv = kv_layout(desc, params)
    sizes = [T * I32, desc.n_embd * T * F32, T * I32, params.n_outputs_pp * I32]
    for swa in kinds:
        sizes += [T * I64, v_idx, (kv.cells_swa if swa else kv.cells_full) * T * mask_elem]
        sizes += rotation_inputs(desc, params)
    total = sum(pad(s, 32) for s in sizes) * copies
    return total + pad(desc.n_embd * T * F32, 32)


def _fa_extra(params: ContextParams, desc: ModelDescription, backend: str) -> int:
    """Bytes per KV cell CUDA's flash attention adds for f16 copies of a quantized K/V."""
    if backend not in ("cuda", "rocm") or not params.flash_attn:
        return 0
    extra = 0
    if params.type_k in _QUANTIZED_KV:
        extra += desc.n_embd_k_gqa * 2
    if params.type_v in _QUANTIZED_KV:
        extra += desc.n_embd_v_gqa * 2
    return extra


def _copied_weights(plan: WeightPlan, layers: Sequence[int], rules: BufferRules) -> dict[int, dict[str, int]]:
    """Per layer, the CPU weights an offloaded big batch copies to the GPU, by role, as its buffer sizes them."""
    wanted = set(layers)
    out: dict[int, dict[str, int]] = {}
    for t in plan.tensors:
        if t.layer in wanted:
            out.setdefault(t.layer, {})[weight_role(t.name)] = rules.alloc_size(t.qtype, t.shape)
    return out


def _compute(desc: ModelDescription, plan: WeightPlan, params: ContextParams, kv: KvLayout,
             devices: Sequence[int], gpus: Sequence[GpuDevice], placement: Placement,
             op_offload: bool) -> tuple[list[int], int]:
    """Compute buffer per GPU and on the host."""
    n_layer = desc.n_layer
    if not gpus:
        host = compute_peak(desc, params, kv, Segment(0, n_layer, True))
        return [0] * len(gpus), host
    n_cpu = sum(1 for d in devices[:n_layer] if d == CPU)
    out_cpu = devices[n_layer] == CPU
    offload = op_offload and params.n_tokens_pp >= OP_OFFLOAD_MIN_BATCH
    pipeline = len(gpus) > 1 and n_cpu == 0 and not out_cpu and params.offload_kqv and placement.n_cpu_moe == 0
    copies = 4 if pipeline else 1
    per_gpu = [0] * len(gpus)
    for g, gpu in enumerate(gpus):
        layers = [il for il in range(n_layer) if devices[il] == g]
        head = devices[n_layer] == g
        rules = rules_for(gpu.backend)
        first = layers[0] if layers else n_layer
        copied: list[int] = []
        if g == 0 and offload and n_cpu:
            copied = list(range(n_cpu))
            first = 0
        if g == 0 and offload and out_cpu:
            copied.append(n_layer)
            head = True
        if not layers and not head:
            continue
        copies_w = _copied_weights(plan, copied, rules)
        if offload and placement.n_cpu_moe:  # CPU experts of this GPU's layers run here too, copied in
            moe = _copied_weights(plan, [il for il in layers if il < placement.n_cpu_moe], rules)
            for il, roles in moe.items():
                copies_w[il] = {r: n for r, n in roles.items() if r.endswith("_exps")}
        last = (layers[-1] + 1) if layers else (n_cpu if first == 0 else n_layer)
        host_kv = frozenset(il for il in range(first, last) if devices[il] == CPU or not params.offload_kqv)
        seg = Segment(first, last, head, rules.alignment, _fa_extra(params, desc, gpu.backend),
                      embed_input=False, input_copies=copies, weight_copies=copies_w,
                      moe_fusion=gpu.backend in ("cuda", "rocm"), host_kv=host_kv)
        per_gpu[g] = compute_peak(desc, params, kv, seg)
    if offload or (n_cpu == 0 and not out_cpu):
        host = host_inputs(desc, params, copies)
    else:
        host = compute_peak(desc, params, kv, Segment(0, n_cpu, out_cpu))
    return per_gpu, host


def estimate(desc: ModelDescription, plan: WeightPlan, params: ContextParams, gpus: Sequence[GpuDevice],
             placement: Placement, *, cpu_features: Sequence[str] = (), op_offload: bool = True) -> MemoryEstimate:
    """Every device's memory for ``plan`` at ``params`` with layers laid out as ``placement``."""
    kv = kv_layout(desc, params)
    devices = placement.devices(desc.n_layer) if gpus else (CPU,) * (desc.n_layer + 1)
    w_gpu, w_host, repacked = _weights(desc, plan, devices, gpus, placement, repack_types(cpu_features))
    kv_gpu, kv_host = _kv(desc, kv, devices, gpus, params)
    c_gpu, c_host = _compute(desc, plan, params, kv, devices, gpus, placement, op_offload)
    gpu_mem = tuple(
        DeviceMemory(f"GPU{i} ({g.name})", w_gpu[i], kv_gpu[i], c_gpu[i]) for i, g in enumerate(gpus)
    )
    output = pad(desc.n_vocab * params.n_seq * F32, 32)
    host = DeviceMemory("Host", w_host, kv_host, c_host, repacked=repacked, output=output)
    return MemoryEstimate(gpu_mem, host, kv)
