"""Fit one file type to a machine the way llama.cpp's ``--fit`` does, plus the RAM check it leaves out.

Order of concessions, as in ``common_params_fit_impl``: keep everything on the GPUs and shrink the context
(down to a floor, 4096 by default); then for mixture-of-experts models move the experts of the first layers to
the CPU (``--n-cpu-moe``); then move whole layers off the GPUs, filling devices from the last to the first.
Unlike llama.cpp, the CPU part is checked against free RAM, and a machine without GPUs is fitted too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from engine.hardware.profile import MIB, GpuDevice, HardwareProfile
from engine.recommend.kv_cache import CTX_PAD, ContextParams, pad
from engine.recommend.memory import MemoryEstimate, estimate
from engine.recommend.model import ModelDescription
from engine.recommend.placement import Placement, all_on_gpus, cpu_only
from engine.recommend.weights import WeightPlan

# Memory a CUDA/ROCm context and driver take once our process initialises the GPU; NVML and sysfs report
# free memory before that happens. On an H100 (CUDA 13, driver 580) llama.cpp saw 80552 MiB free where NVML
# had reported 81079: 527 MiB (llama.cpp PR #15860 measured 451-456 MiB per RTX 4090; the larger figure is
# kept, since it only costs a smaller card some 75 MiB of headroom).
DRIVER_RESERVE: dict[str, int] = {"cuda": 527 * MIB, "rocm": 450 * MIB}


@dataclass(frozen=True, slots=True)
class FitRequest:
    """What the user asked for and how careful to be.

    Attributes:
        n_ctx: wanted context; None means the model's trained context (capped at ``ctx_default_cap``).
        n_ctx_min: the smallest context worth trading layers for (llama.cpp ``-fitc``, 4096).
        context: KV types, flash attention, sequences, batch sizes (its ``n_ctx`` is replaced); llama-server's
            defaults, since that is what the recommended command runs.
        gpu_margin: memory to leave free on every GPU (llama.cpp ``--fit-target``, 1024 MiB).
        ram_margin: memory to leave free in system RAM.
        op_offload: llama.cpp runs big batches of CPU layers on the GPU (its default); costs GPU memory.
    """

    n_ctx: int | None = None
    n_ctx_min: int = 4096
    ctx_default_cap: int = 32768
    context: ContextParams = field(default_factory=ContextParams.llama_server)
    gpu_margin: int = 1024 * MIB
    ram_margin: int = 1024 * MIB
    op_offload: bool = True

    def wanted_ctx(self, desc: ModelDescription) -> int:
        trained = desc.n_ctx_train or self.ctx_default_cap
        return self.n_ctx if self.n_ctx else min(trained, self.ctx_default_cap)


@dataclass(frozen=True, slots=True)
class Fit:
    """Where one file type runs.

    Attributes:
        mode: "gpu" (everything on the GPUs), "split" (layers or experts on the CPU), "cpu", or "none".
        n_ctx: the context that fits (llama.cpp pads it to 256).
        placement: the layer layout (``-ngl``, ``-ts``, ``--n-cpu-moe``).
        memory: per-device memory at that layout.
        traded: plain sentences saying what was given up to fit.
    """

    mode: str
    n_ctx: int
    placement: Placement
    memory: MemoryEstimate
    traded: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return self.mode != "none"


def gpu_budgets(gpus: Sequence[GpuDevice], margin: int) -> list[int]:
    """Bytes each GPU can give the model: free, minus the driver's context, minus the margin."""
    return [g.free_bytes - DRIVER_RESERVE.get(g.backend, 0) - margin for g in gpus]


class _Fitter:
    def __init__(self, desc: ModelDescription, plan: WeightPlan, hw: HardwareProfile, req: FitRequest) -> None:
        self.desc, self.plan, self.hw, self.req = desc, plan, hw, req
        self.gpus = hw.gpus
        self.budgets = gpu_budgets(self.gpus, req.gpu_margin)
        self.ram_budget = hw.ram_available_bytes - req.ram_margin

    def mem(self, n_ctx: int, placement: Placement) -> MemoryEstimate:
        params = replace(self.req.context, n_ctx=n_ctx)
        return estimate(self.desc, self.plan, params, self.gpus, placement,
                        cpu_features=self.hw.cpu.features, op_offload=self.req.op_offload)

    def gpu_ok(self, m: MemoryEstimate, devices: Sequence[int] | None = None) -> bool:
        idx = range(len(self.gpus)) if devices is None else devices
        return all(m.gpus[i].total <= self.budgets[i] for i in idx)

    def ram_ok(self, m: MemoryEstimate) -> bool:
        used = m.total if self.hw.unified_memory else m.host.total
        return used <= self.ram_budget

    def ok(self, m: MemoryEstimate) -> bool:
        return self.gpu_ok(m) and self.ram_ok(m)


def _largest(lo: int, hi: int, good: Callable[[int], bool]) -> int | None:
    """Largest value in [lo, hi] for which ``good`` holds, assuming it is monotone (None if even lo fails)."""
    if not good(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if good(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _ctx_steps(lo: int, hi: int) -> tuple[int, int]:
    return pad(lo, CTX_PAD) // CTX_PAD, pad(hi, CTX_PAD) // CTX_PAD


def _shrink_ctx(f: _Fitter, want: int, floor: int, placement: Placement) -> int | None:
    """The largest context in [floor, want] (multiples of 256) at which ``placement`` fits, or None."""
    lo, hi = _ctx_steps(min(floor, want), want)
    steps = _largest(lo, hi, lambda s: f.ok(f.mem(s * CTX_PAD, placement)))
    return None if steps is None else min(steps * CTX_PAD, want)


def _cpu_moe(f: _Fitter, n_ctx: int) -> Placement | None:
    """All layers on the GPUs with the experts of the fewest first layers on the CPU."""
    base = all_on_gpus(f.desc.n_layer, f.budgets)
    n = _largest(0, f.desc.n_layer, lambda k: not f.ok(f.mem(n_ctx, replace(base, n_cpu_moe=k))))
    k = 0 if n is None else n + 1
    if k > f.desc.n_layer:
        return None
    placement = replace(base, n_cpu_moe=k)
    return placement if f.ok(f.mem(n_ctx, placement)) else None


def _layers_back_to_front(f: _Fitter, n_ctx: int) -> Placement | None:
    """Fill GPUs from the last to the first with as many of the top-most remaining layers as fit."""
    n_gpu = len(f.gpus)
    counts = [0] * n_gpu
    remaining = f.desc.n_layer + 1
    for g in reversed(range(n_gpu)):
        def fits(k: int, g: int = g) -> bool:
            trial = counts.copy()
            trial[g] = k
            m = f.mem(n_ctx, Placement(sum(trial), tuple(trial)))
            return f.gpu_ok(m, range(g, n_gpu))
        best = _largest(0, remaining, fits)
        counts[g] = best or 0
        remaining -= counts[g]
    placement = Placement(sum(counts), tuple(counts))
    return placement if f.ok(f.mem(n_ctx, placement)) else None


def fit(desc: ModelDescription, plan: WeightPlan, hw: HardwareProfile, req: FitRequest) -> Fit:
    """Find where ``plan`` runs on ``hw``: the largest context up to the request, then the most GPU layers."""
    f = _Fitter(desc, plan, hw, req)
    want = req.wanted_ctx(desc)
    floor = min(req.n_ctx_min, want)
    if not hw.gpus:
        ctx = _shrink_ctx(f, want, floor, cpu_only())
        return _result(f, "cpu", want, ctx, cpu_only())
    full = all_on_gpus(desc.n_layer, f.budgets)
    ctx = _shrink_ctx(f, want, floor, full)
    if ctx is not None:
        return _result(f, "gpu", want, ctx, full)
    for search in ((_cpu_moe,) if desc.is_moe else ()) + (_layers_back_to_front,):
        placement = search(f, floor)
        if placement is not None:
            ctx = _shrink_ctx(f, want, floor, placement) or floor
            return _result(f, "split", want, ctx, placement)
    return _result(f, "none", want, None, cpu_only())


def _result(f: _Fitter, mode: str, want: int, ctx: int | None, placement: Placement) -> Fit:
    if ctx is None:
        m = f.mem(min(f.req.n_ctx_min, want), placement)
        return Fit("none", min(f.req.n_ctx_min, want), placement, m, _why_not(f, m))
    m = f.mem(ctx, placement)
    traded: list[str] = []
    if ctx < want:
        traded.append(f"context reduced from {want:,} to {ctx:,} tokens")
    n_layer = f.desc.n_layer
    on_gpu = min(placement.n_gpu_layers, n_layer + 1)
    if f.gpus and mode == "split" and on_gpu < n_layer + 1:
        traded.append(f"{n_layer + 1 - on_gpu} of {n_layer + 1} layers run on the CPU")
    if placement.n_cpu_moe:
        traded.append(f"experts of the first {placement.n_cpu_moe} layers run on the CPU")
    return Fit(mode, ctx, placement, m, tuple(traded))


def _why_not(f: _Fitter, m: MemoryEstimate) -> tuple[str, ...]:
    need_ram = (m.total if f.hw.unified_memory else m.host.total) / 2**30
    have_ram = f.ram_budget / 2**30
    if not f.gpus or need_ram > have_ram:
        return (f"needs {need_ram:.1f} GiB of RAM, {max(have_ram, 0):.1f} GiB available after the margin",)
    return ("does not fit even with most layers on the CPU",)
