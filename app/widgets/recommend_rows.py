"""From a picked model and a machine to table rows: runs the engine's recommender and dresses its result
for display (verdict words and colours, memory bars, commands per row). No Qt; runs on a worker thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path

from app.widgets.memory_usage import DeviceUsage, Part
from app.widgets.model_choice import ChoiceKind, ModelChoice
from app.widgets.units import fmt_bytes, fmt_rate, fmt_tokens
from engine.errors import UnsupportedInputError, UsageError
from engine.hardware import HardwareProfile
from engine.hub import GGUFVariant
from engine.quant.ftypes import parse_file_type
from engine.recommend import ContextParams, FitRequest, ModelDescription, Option, Recommendation, kv_type, recommend
from engine.recommend.commands import RunCommands, run_commands
from engine.recommend.fit import DRIVER_RESERVE
from engine.recommend.model import HF_ARCH, from_catalog_dims
from engine.recommend.rank import DEFAULT_TYPES
from engine.recommend.source import from_catalog, from_folder, from_gguf, resolve
from engine.recommend.tensor_shapes import with_gguf_tensors

KV_CHOICES: dict[str, str] = {
    "f16": "f16: full precision KV cache (llama.cpp's default)",
    "q8_0": "q8_0: half the KV memory, practically no quality loss",
    "q4_0": "q4_0: a quarter of the KV memory, some quality loss on long contexts",
}
CONTEXT_STEPS = (512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152, 65536, 98304,
                 131072, 196608, 262144, 524288, 1048576)
DEFAULT_MAX_CONTEXT = 131072


class Verdict(enum.Enum):
    """Where a file type runs, with the words and colours the table shows (colour never stands alone)."""

    GPU = ("Fits on GPU", "#b7e4c7")
    SPLIT = ("Fits split GPU + CPU", "#fbe3a1")
    CPU = ("CPU only", "#cfd8e3")
    NONE = ("Does not fit", "#f5b7b1")

    @property
    def words(self) -> str:
        return self.value[0]

    @property
    def color(self) -> str:
        return self.value[1]


def context_steps(n_ctx_train: int | None) -> list[int]:
    """Slider stops: round context sizes up to the trained context (which is always the last stop)."""
    top = n_ctx_train or DEFAULT_MAX_CONTEXT
    steps = [c for c in CONTEXT_STEPS if c < top]
    return [*steps, top]


@dataclass(frozen=True, slots=True)
class RecommendInputs:
    """Everything a recommendation depends on; a change of any field means computing again."""

    hardware: HardwareProfile
    choice: ModelChoice
    n_ctx: int = 8192
    kv_type: str = "f16"
    min_tokens_per_s: float = 0.0

    def request(self) -> FitRequest:
        kv = kv_type(self.kv_type)
        return FitRequest(n_ctx=self.n_ctx, context=ContextParams(type_k=kv, type_v=kv))


@dataclass(frozen=True, slots=True)
class OptionRow:
    """One file type as a table row.

    Attributes:
        option: the engine's evaluation.
        verdict: where it runs.
        recommended: the engine's pick.
        n_layer: the model's repeating layers (llama.cpp counts n_layer + 1 with the output layer).
        variant: a ready-made GGUF of this type in the picked repo, if any.
        commands: run settings for this row (None when it does not fit).
    """

    option: Option
    verdict: Verdict
    recommended: bool
    n_layer: int
    variant: GGUFVariant | None = None
    commands: RunCommands | None = None

    @property
    def file_type(self) -> str:
        return self.option.file_type

    def type_tooltip(self) -> str:
        try:
            return f"{self.file_type}: {parse_file_type(self.file_type).description}"
        except UsageError:
            return self.file_type

    def size_text(self) -> str:
        return fmt_bytes(self.variant.size if self.variant is not None else self.option.file_bytes)

    def layers_text(self) -> str:
        total = self.n_layer + 1
        if self.verdict is Verdict.NONE:
            return "-"
        if not self.option.fit.placement.layers_per_gpu:
            return "none"
        return f"{min(self.option.fit.placement.n_gpu_layers, total)} of {total}"

    def context_text(self) -> str:
        return "-" if self.verdict is Verdict.NONE else fmt_tokens(self.option.fit.n_ctx)

    def speed_text(self) -> str:
        return fmt_rate(self.option.tokens_per_s) if self.option.speed is not None else "-"

    def quality_text(self) -> str:
        q = self.option.quality
        approx = "~" if q.estimated else ""
        return f"{approx}+{q.ppl_increase:.3f} ppl, {q.grade}"

    def verdict_tooltip(self) -> str:
        traded = "; ".join(self.option.fit.traded)
        return f"{self.verdict.words}: {traded}." if traded else self.verdict.words + "."


@dataclass(frozen=True, slots=True)
class RecommendResult:
    """The engine's recommendation for ``inputs`` and its rows, best first."""

    inputs: RecommendInputs
    description: ModelDescription
    recommendation: Recommendation
    rows: tuple[OptionRow, ...]

    @property
    def best_row(self) -> OptionRow | None:
        return next((r for r in self.rows if r.recommended), None)

    def row(self, file_type: str) -> OptionRow | None:
        return next((r for r in self.rows if r.file_type == file_type), None)


def _local_model(path: Path) -> ModelDescription:
    if path.is_file() and (path.name == "config.json" or path.suffix == ".safetensors") \
            and (path.parent / "config.json").is_file():
        return from_folder(path.parent)
    return resolve(str(path))


def describe_choice(choice: ModelChoice) -> ModelDescription:
    """The engine's model description for a picked model (reads headers or the catalog: worker thread only).

    Raises:
        QuantpickError: the model cannot be sized (unknown architecture, unreadable file, no dimensions).
    """
    if choice.kind is ChoiceKind.LOCAL:
        return _local_model(Path(choice.ref))
    if choice.cached is not None:
        if choice.cached.convertible:
            return from_folder(choice.cached.snapshot)
        if choice.cached.gguf_variants and choice.catalog is None:
            return from_gguf(choice.cached.snapshot / choice.cached.gguf_variants[0].first_file.path)
    if choice.catalog is not None:
        return from_catalog(choice.catalog.repo_id)
    details = choice.details
    if details is not None and details.dims is not None and details.model_type in HF_ARCH:
        desc = from_catalog_dims(details.dims.to_json(), arch=HF_ARCH[details.model_type], name=choice.title)
        return with_gguf_tensors(desc, qkv_bias=details.dims.qkv_bias)
    raise UnsupportedInputError(
        f"Quantpick cannot size {choice.title}: it has no config.json it understands and is not in the catalog.",
        "Pick the original (non-GGUF) model, or download one of its GGUF files and open it from Local files.",
    )


def _verdict(option: Option) -> Verdict:
    fit = option.fit
    if not fit.fits:
        return Verdict.NONE
    if fit.mode == "cpu" or not fit.placement.layers_per_gpu or fit.placement.n_gpu_layers == 0:
        return Verdict.CPU
    return Verdict.GPU if fit.mode == "gpu" else Verdict.SPLIT


def _gguf_name(desc: ModelDescription, file_type: str, variant: GGUFVariant | None) -> str:
    if variant is not None:
        return variant.first_file.name
    return f"{desc.name.replace(' ', '-')}-{file_type}.gguf"  # the name engine.recommend uses


def compute(inputs: RecommendInputs, description: ModelDescription | None = None) -> RecommendResult:
    """Describe the model (unless ``description`` is given) and run the recommender. Worker thread only."""
    desc = description if description is not None else describe_choice(inputs.choice)
    req = inputs.request()
    rec = recommend(desc, inputs.hardware, req, file_types=DEFAULT_TYPES, min_tokens_per_s=inputs.min_tokens_per_s)
    variants = {v.quant: v for v in inputs.choice.gguf_variants}
    rows = []
    for option in rec.options:
        variant = variants.get(option.file_type)
        commands = (run_commands(desc, option.fit, req, gguf_name=_gguf_name(desc, option.file_type, variant))
                    if option.fit.fits else None)
        rows.append(OptionRow(option, _verdict(option), option is rec.best, desc.n_layer, variant, commands))
    return RecommendResult(inputs, desc, rec, tuple(rows))


def memory_usage(row: OptionRow, hw: HardwareProfile) -> list[DeviceUsage]:
    """Bars for the memory bar: each GPU, then system RAM, with what this row puts on them."""
    memory = row.option.fit.memory
    bars = []
    for i, (gpu, mem) in enumerate(zip(hw.gpus, memory.gpus, strict=False)):
        other = gpu.total_bytes - gpu.free_bytes + DRIVER_RESERVE.get(gpu.backend, 0)
        name = gpu.name.replace("NVIDIA GeForce ", "").replace("NVIDIA ", "")
        parts = ((Part.OTHER, other), (Part.WEIGHTS, mem.model), (Part.KV, mem.context), (Part.COMPUTE, mem.compute))
        bars.append(DeviceUsage(f"GPU {i}: {name}", gpu.total_bytes, parts))
    host = memory.host
    weights, kv, compute_bytes = host.model, host.context, host.compute + host.output
    if hw.unified_memory:  # the GPU's share is the same RAM
        weights += sum(g.model for g in memory.gpus)
        kv += sum(g.context for g in memory.gpus)
        compute_bytes += sum(g.compute for g in memory.gpus)
    ram_parts = ((Part.OTHER, hw.ram_total_bytes - hw.ram_available_bytes), (Part.WEIGHTS, weights),
                 (Part.KV, kv), (Part.COMPUTE, compute_bytes))
    bars.append(DeviceUsage("RAM", hw.ram_total_bytes, ram_parts))
    return bars


def with_context(inputs: RecommendInputs, n_ctx: int) -> RecommendInputs:
    return replace(inputs, n_ctx=n_ctx)
