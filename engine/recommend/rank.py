"""Fit every file type, rank them, and explain the pick in one sentence.

The pick is the best quality that fits and reaches the user's speed floor; among equal quality the faster
one wins. When nothing reaches the floor, the fastest option that fits is picked and the sentence says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.hardware.profile import GIB, HardwareProfile
from engine.quant.ftypes import FileType, parse_file_type
from engine.recommend.commands import RunCommands, SeedFormats, run_commands, seed_formats
from engine.recommend.fit import Fit, FitRequest, fit
from engine.recommend.model import ModelDescription
from engine.recommend.quality import Quality, quality_of
from engine.recommend.speed import SpeedEstimate, estimate_speed
from engine.recommend.weights import weight_plan

# Types offered by default: the llama-quantize mixes people actually pick (F32 is never a sensible target).
DEFAULT_TYPES: tuple[str, ...] = (
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ4_XS", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
    "Q8_0", "BF16",
)


@dataclass(frozen=True, slots=True)
class Option:
    """One file type on one machine.

    Attributes:
        file_type: the llama-quantize type name.
        file_bytes: size of the tensor data in the GGUF.
        fit: where and with what context it runs.
        speed: estimated generation speed (None when it does not fit).
        quality: published quality loss of the type.
    """

    file_type: str
    file_bytes: int
    fit: Fit
    speed: SpeedEstimate | None
    quality: Quality

    @property
    def tokens_per_s(self) -> float:
        return self.speed.tokens_per_s if self.speed else 0.0


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Ranked options, the pick, why, and how to run it.

    Attributes:
        model: model name.
        hardware: hardware profile name.
        options: every evaluated file type, best first (non-fitting ones last).
        best: the pick, or None when nothing fits.
        explanation: one sentence.
        commands: settings for the pick.
        seeds: GPTQ/AWQ and EXL2 sizing for the pick's context (GPU machines only).
    """

    model: str
    hardware: str
    options: tuple[Option, ...]
    best: Option | None
    explanation: str
    commands: RunCommands | None
    seeds: SeedFormats | None


def evaluate(desc: ModelDescription, hw: HardwareProfile, req: FitRequest, file_type: FileType | None) -> Option:
    """Fit one file type (None = the GGUF as it is) and estimate its speed."""
    plan = weight_plan(desc, file_type)
    result = fit(desc, plan, hw, req)
    speed = estimate_speed(desc, plan, result, hw) if result.fits else None
    name = plan.file_type.name
    return Option(name, plan.file_bytes, result, speed, quality_of(name))


GOOD_ENOUGH_PPL = 0.3  # Q4_K_S and better: the floor when nothing is fast enough
DEFAULT_MIN_TOKENS_PER_S = 10.0  # a comfortable reading speed


def _order(options: Sequence[Option]) -> list[Option]:
    return sorted(options, key=lambda o: (not o.fit.fits, o.quality.rank, -o.tokens_per_s))


def _full_context(o: Option, wanted: int) -> bool:
    """Keeps at least half the requested context: losing more than that outweighs a quality step."""
    return 2 * o.fit.n_ctx >= wanted


def _pick(options: Sequence[Option], min_tps: float, wanted: int) -> tuple[Option | None, str]:
    """Best quality among fast-enough options, preferring those that keep most of the requested context."""
    fitting = [o for o in options if o.fit.fits]
    if not fitting:
        return None, "No file type fits this machine, even with the context at its minimum"
    fast = [o for o in fitting if o.tokens_per_s >= min_tps]
    if fast:
        best = min(fast, key=lambda o: (not _full_context(o, wanted), o.quality.rank, -o.tokens_per_s))
        slower = [o for o in fitting if o.quality.rank < best.quality.rank and o not in fast]
        why = f"{best.file_type} is the best quality that fits"
        if min_tps > 0:
            why += f" and reaches {min_tps:g} tokens/s"
        if slower:  # name the next step up in quality, not the very best
            why += f" ({max(slower, key=lambda o: o.quality.ppl_increase).file_type} also fits but is slower)"
        return best, why
    decent = [o for o in fitting if o.quality.ppl_increase <= GOOD_ENOUGH_PPL] or fitting
    best = max(decent, key=lambda o: (_full_context(o, wanted), o.tokens_per_s))
    return best, (f"Nothing reaches {min_tps:g} tokens/s, so {best.file_type} is the fastest option that keeps "
                  "good quality")


def _sentence(best: Option, why: str) -> str:
    f = best.fit
    where = {"gpu": "entirely on the GPU", "cpu": "on the CPU", "split": "split between GPU and CPU"}[f.mode]
    gib = f.memory.total / GIB
    traded = f"; {'; '.join(f.traded)}" if f.traded else ""
    return (f"{why}: it runs {where} with {f.n_ctx:,} tokens of context in {gib:.1f} GiB at about "
            f"{best.tokens_per_s:.0f} tokens/s ({best.quality.grade}){traded}.")


def _file_name(desc: ModelDescription, best: Option | None) -> str:
    """The GGUF's own name when it is run as it is, else the name a conversion would get."""
    if desc.source == "gguf" and best is not None and desc.file_type and best.file_type == desc.file_type.name:
        return f"{desc.name}.gguf"
    return f"{desc.name.replace(' ', '-')}-{best.file_type if best else 'Q4_K_M'}.gguf"


def recommend(
    desc: ModelDescription,
    hw: HardwareProfile,
    req: FitRequest | None = None,
    *,
    file_types: Sequence[str] | None = None,
    min_tokens_per_s: float = DEFAULT_MIN_TOKENS_PER_S,
    gguf_name: str | None = None,
) -> Recommendation:
    """Fit each file type of ``desc`` on ``hw`` and pick one.

    Args:
        desc: the model (with its tensor list).
        hw: the machine.
        req: context, KV type and margins (defaults: llama.cpp's).
        file_types: types to consider; None = the usual llama-quantize mixes, or only the file's own type
            when ``desc`` is a GGUF that will be run as it is (pass types to consider requantizing it).
        min_tokens_per_s: speed floor for the pick (10 tokens/s, a comfortable reading speed).
        gguf_name: file name to put in the commands.

    Raises:
        UsageError: an unknown file type name.
    """
    req = req or FitRequest()
    if file_types is None and desc.source == "gguf":
        types: list[FileType | None] = [None]
    else:
        names = file_types if file_types is not None else DEFAULT_TYPES
        types = [parse_file_type(n) for n in names]
    options = _order([evaluate(desc, hw, req, t) for t in types])
    best, why = _pick(options, min_tokens_per_s, req.wanted_ctx(desc))
    name = gguf_name or _file_name(desc, best)
    commands = run_commands(desc, best.fit, req, gguf_name=name) if best else None
    seeds = seed_formats(desc, best.fit, hw, req) if best else None
    explanation = _sentence(best, why) if best else why
    return Recommendation(desc.name, hw.name, tuple(options), best, explanation, commands, seeds)


__all__ = ["DEFAULT_TYPES", "Option", "Recommendation", "evaluate", "recommend"]
