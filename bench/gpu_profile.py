"""``python -m bench.gpu_profile --work DIR --out FILE``: where the GPU path's time goes, for tuning it.

Converts the TinyLlama-shaped BF16 GGUF that ``bench.gpu`` prepares (reused from ``--work``) once per type
under cProfile, after an untimed warm-up, and times the parts separately: reading every row as float32
(what the pipeline's reader threads do), and quantizing one resident 16M-value batch per type on the GPU.
The table of ``bench.gpu`` stays the figure to quote; this says what to change.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.checkpoint import TINYLLAMA
from bench.gpu import prepare
from engine.convert.open_source import open_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.quant import quantize
from engine.quant.device import choose_device
from engine.quant.ftypes import parse_file_type
from engine.quant.xp import load_cupy


def _convert(bf16: Path, out: Path, ftype: str) -> float:
    with open_source(bf16, parse_file_type(ftype)) as source:
        plan = make_plan(source, parse_file_type(ftype), output=out)
        start = time.perf_counter()
        execute(plan, source, device=choose_device("gpu"))
        took = time.perf_counter() - start
    out.unlink(missing_ok=True)
    return took


def _read_all(bf16: Path) -> tuple[float, int]:
    start, values = time.perf_counter(), 0
    with open_source(bf16, parse_file_type("Q8_0")) as source:
        for tensor in source.tensors:
            step = max(1, (1 << 24) // tensor.row_length)
            for first in range(0, tensor.n_rows, step):
                values += tensor.read_rows(first, min(tensor.n_rows, first + step)).size
    return time.perf_counter() - start, values


def _kernel_times(types: list[str]) -> list[str]:
    cupy = load_cupy()
    rows = cupy.asarray(np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32))
    lines = []
    for t in types:
        quantize(rows, t)
        cupy.cuda.Device().synchronize()
        start = time.perf_counter()
        for _ in range(3):
            quantize(rows, t)
        cupy.cuda.Device().synchronize()
        lines.append(f"| {t} | {(time.perf_counter() - start) / 3 * 1e3:.1f} ms |")
    return lines


def _whole_process(bf16: Path, out: Path, ftype: str) -> list[str]:
    """The CLI as a user runs it, under cProfile and then under ``-X importtime``: start-up included."""
    cli = ["-m", "engine.cli", "convert", str(bf16), "-t", ftype, "-o", str(out), "--device", "gpu", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "cli.prof"
        out.unlink(missing_ok=True)
        os.sync()  # as bench.gpu does: no earlier write-back in flight
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats_file), *cli], check=True,
                       capture_output=True)
        wall = time.perf_counter() - start
        text = io.StringIO()
        stats = pstats.Stats(str(stats_file), stream=text)
        stats.sort_stats("cumtime").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
    out.unlink(missing_ok=True)
    os.sync()
    imports = subprocess.run([sys.executable, "-X", "importtime", *cli], check=True, capture_output=True, text=True)
    out.unlink(missing_ok=True)
    slowest = sorted((ln for ln in imports.stderr.splitlines() if ln.startswith("import time:") and "|" in ln
                      and ln.split("|")[1].strip().isdigit()), key=lambda ln: -int(ln.split("|")[1]))[:30]
    return [f"## Whole process, {ftype}: {wall:.2f} s under cProfile", "", "```", text.getvalue()[-12000:], "```",
            "", "Slowest imports (cumulative microseconds):", "", "```", *slowest, "```", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--types", nargs="+", default=["Q4_K_M", "Q8_0"])
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    _, bf16 = prepare(argparse.Namespace(), TINYLLAMA, "1.1B", args.work)
    report = ["# Where the GPU path's time goes", ""]
    read_s, values = _read_all(bf16)
    report += [f"Reading all {values:,} values as float32 on one thread: {read_s:.2f} s", "",
               "| type | one 16M-value batch on the GPU |", "|---|---|"]
    report += _kernel_times(["Q8_0", "Q4_K", "Q6_K", "Q5_K", "Q4_0"]) + [""]
    for ftype in args.types:
        out = args.work / f"profile-{ftype}.gguf"
        _convert(bf16, out, ftype)  # warm-up: kernel compilation and the page cache
        report += _whole_process(bf16, out, ftype)
        profiler = cProfile.Profile()
        profiler.enable()
        took = _convert(bf16, out, ftype)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        report += [f"## {ftype}: {took:.2f} s", "", "```", text.getvalue()[-6000:], "```", ""]
    args.out.write_text("\n".join(report))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
