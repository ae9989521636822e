"""The results as markdown: machine facts, the method, and one row per type."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from bench.workload import TARGET_RATIO


@dataclass(frozen=True, slots=True)
class TypeResult:
    """Seconds per thread count for both sides (None: not measured) and whether the bytes matched."""

    type_name: str
    implemented: bool
    ours: dict[int, float] = field(default_factory=dict)
    llama: dict[int, float] = field(default_factory=dict)
    identical: bool | None = None  # None: nothing to compare
    failure: str | None = None  # our kernel raised; the text goes under the table


@dataclass(frozen=True, slots=True)
class BenchSetup:
    """What was measured and how, for the header of the report."""

    n_rows: int
    n_per_row: int
    threads: tuple[int, ...]
    llama_build: str | None  # None when llama-quantize was not run
    baseline_s: dict[int, float]
    load_avg: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start and at the end

    @property
    def n_weights(self) -> int:
        return self.n_rows * self.n_per_row


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else whatever platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(setup: BenchSetup) -> list[str]:
    ram_gib = psutil.virtual_memory().total / (1 << 30)
    lines = [
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; RAM {ram_gib:.0f} GiB",
        f"- OS: {platform.system()} {platform.release()}; Python {platform.python_version()}; numpy {np.__version__}",
        f"- Load average (1 min) at start / end: {setup.load_avg[0]:.2f} / {setup.load_avg[1]:.2f} "
        "(anything else running takes cores from the many-thread columns)",
    ]
    if setup.llama_build is not None:
        lines.append(f"- llama-quantize: llama-cpp-python 0.3.36 sdist, Release, GGML_NATIVE=ON, {setup.llama_build}")
    return lines


def method_lines(setup: BenchSetup) -> list[str]:
    mib = setup.n_weights * 4 / (1 << 20)
    lines = [
        f"Throughput in million weights per second (higher is better) on one {setup.n_rows} x {setup.n_per_row} "
        f"F32 tensor of standard-normal values ({setup.n_weights:,} weights, {mib:g} MiB). "
        "Each figure is the fastest of a few runs.",
        "",
        "- **ours**: `engine.quant.parallel.quantize_parallel` on the in-memory array (includes the inf/NaN "
        "check, like llama.cpp's row validation).",
    ]
    if setup.llama_build is not None:
        base = ", ".join(f"{t}T {s * 1000:.0f} ms" for t, s in sorted(setup.baseline_s.items()))
        lines.append(
            "- **llama**: wall time of `llama-quantize --pure in.gguf /dev/null TYPE NTHREADS` on a one-tensor GGUF, "
            "minus the time of the same command with TYPE=F32 (process start, mapping the input, a copy with no "
            f"quantization: {base}), so both columns time quantization only. Output goes to /dev/null so the "
            "baseline's larger F32 write does not flatter llama; mapping the input pages costs llama a few ms at most. "
            "One more untimed run writes a real file for the byte check."
        )
        lines.append(
            "- **ratio** = ours / llama (1.00 = as fast); ✓/✗ against the issue's target (K types >= 0.5, "
            "legacy and float types >= 1.0). **bytes** = our tensor is byte-identical to llama-quantize's."
        )
    return lines


def _rate(n_weights: int, seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds <= 0:
        return "below noise"
    rate = n_weights / seconds / 1e6
    return f"{rate:.1f}" if rate >= 10 else f"{rate:.2f}"


def _ratio(res: TypeResult, threads: int) -> str:
    ours, llama = res.ours.get(threads), res.llama.get(threads)
    if ours is None or llama is None or ours <= 0 or llama <= 0:
        return "—"
    ratio = llama / ours
    target = TARGET_RATIO.get(res.type_name)
    mark = "" if target is None else (" ✓" if ratio >= target else " ✗")
    return f"{ratio:.2f}{mark}"


def table_lines(setup: BenchSetup, results: list[TypeResult]) -> list[str]:
    head = ["type"]
    for t in setup.threads:
        head += [f"ours {t}T", f"llama {t}T", f"ratio {t}T"]
    head += ["target", "bytes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        cells = [res.type_name]
        for t in setup.threads:
            ours = _rate(setup.n_weights, res.ours.get(t)) if res.implemented else "not implemented"
            ours = "failed" if res.failure else ours
            cells += [ours, _rate(setup.n_weights, res.llama.get(t)), _ratio(res, t)]
        target = TARGET_RATIO.get(res.type_name)
        cells.append("—" if target is None else f">= {target:g}")
        cells.append({None: "—", True: "identical", False: "**differ**"}[res.identical])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(setup: BenchSetup, results: list[TypeResult]) -> str:
    """The whole results.md."""
    parts = ["# Quantization throughput", "", *machine_lines(setup), "", *method_lines(setup), ""]
    parts += [*table_lines(setup, results), ""]
    parts += [f"- {res.type_name} failed: {res.failure}" for res in results if res.failure]
    return "\n".join(parts)
