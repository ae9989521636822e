"""``python -m bench.run --out bench/results.md``: time every type, ours and llama-quantize's, write the table.

Options keep development runs cheap (``--types F16 BF16 --mib 4``); ``--llama-quantize PATH`` or the
LLAMA_QUANTIZE environment variable adds llama.cpp's figures and a byte-identity check.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.llama import LlamaQuantize, write_synthetic_gguf
from bench.ours import is_implemented, time_ours
from bench.report import BenchSetup, TypeResult, render
from bench.workload import TYPES, make_rows, parse_type


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write")
    parser.add_argument("--llama-quantize", type=Path, default=os.environ.get("LLAMA_QUANTIZE") or None,
                        help="llama-quantize binary to compare with (default: $LLAMA_QUANTIZE)")
    parser.add_argument("--types", nargs="+", type=parse_type, default=list(TYPES), help="types to time")
    parser.add_argument("--threads", nargs="+", type=int, default=sorted({1, os.cpu_count() or 1}),
                        help="thread counts (default: 1 and every CPU)")
    parser.add_argument("--mib", type=float, default=64.0, help="size of the F32 test tensor in MiB")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure of ours; the fastest counts")
    parser.add_argument("--llama-repeat", type=int, default=9,
                        help="runs per llama-quantize figure and baseline (short processes need more)")
    parser.add_argument("--budget", type=float, default=4.0, help="stop repeating a figure after this many seconds")
    args = parser.parse_args(argv)
    if any(t < 1 for t in args.threads):
        parser.error("thread counts must be at least 1")
    if args.llama_quantize is not None and not os.access(args.llama_quantize, os.X_OK):
        parser.error(f"{args.llama_quantize} is not an executable file")
    return args


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _measure_type(
    type_name: str, rows: np.ndarray, args: argparse.Namespace, llama: LlamaQuantize | None, base: dict[int, float]
) -> TypeResult:
    implemented = is_implemented(type_name)
    ours: dict[int, float] = {}
    ours_bytes: set[bytes] = set()
    failure = None
    try:
        for t in args.threads if implemented else ():
            run = time_ours(rows, type_name, t, repeat=args.repeat, budget_s=args.budget)
            ours[t] = run.seconds
            ours_bytes.add(run.data.tobytes())
            _log(f"  ours  {type_name:7} {t}T {run.seconds * 1000:9.1f} ms")
    except Exception as e:  # noqa: BLE001 - a kernel still being written must not sink the other rows
        failure = f"{type(e).__name__}: {e}"
        _log(f"  ours  {type_name:7} failed: {failure}")
    net: dict[int, float] = {}
    identical = None
    if llama is not None:
        for t in args.threads:
            net[t] = llama.time(type_name, t, repeat=args.llama_repeat, budget_s=args.budget) - base[t]
            _log(f"  llama {type_name:7} {t}T {net[t] * 1000:9.1f} ms (net)")
        if ours_bytes:
            identical = ours_bytes == {llama.quantized_bytes(type_name)}
    elif len(ours_bytes) > 1:
        identical = False  # thread counts disagreed with each other
    return TypeResult(type_name, implemented, ours, net, identical, failure)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = os.getloadavg()[0]
    rows = make_rows(args.mib)
    threads = tuple(dict.fromkeys(args.threads))
    args.threads = threads
    with tempfile.TemporaryDirectory(prefix="quantpick-bench-") as tmp:
        llama, base, build = None, {}, None
        if args.llama_quantize is not None:
            src = Path(tmp) / "in-f32.gguf"
            write_synthetic_gguf(src, rows)
            llama = LlamaQuantize(args.llama_quantize.resolve(), src, Path(tmp))
            build = llama.build_info()
            base = {t: llama.baseline(t, repeat=args.llama_repeat) for t in threads}
            shown = ", ".join(f"{t}T {s * 1000:.0f} ms" for t, s in base.items())
            _log(f"llama-quantize {build}; F32 copy baseline {shown}")
        results = []
        for type_name in args.types:
            _log(type_name)
            results.append(_measure_type(type_name, rows, args, llama, base))
    setup = BenchSetup(rows.shape[0], rows.shape[1], threads, build, base, (load_start, os.getloadavg()[0]))
    text = render(setup, results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
