"""``python -m bench.convert``: HF -> GGUF end to end, ours beside llama.cpp's two steps.

Generates TinyLlama-1.1B-shaped (and optionally 3B-shaped) BF16 checkpoints, then times
``quantpick convert`` to Q8_0 and Q4_K_M with disk I/O included, and records peak resident memory of each
run (its own process, measured by the kernel as ru_maxrss). With ``--llama-convert`` (convert_hf_to_gguf.py,
run with ``--llama-python``) and ``--llama-quantize``, llama.cpp's converter (to BF16) and quantizer are
timed the same way on the same checkpoint; the page cache is warm for both (each reads the files once first).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.checkpoint import THREE_B, TINYLLAMA, Shape, write_checkpoint


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float
    peak_rss_mb: float


def timed(cmd: list[str]) -> Timed:
    """Run ``cmd`` in a child of a fresh helper process so ru_maxrss belongs to that one run."""
    probe = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
        "d=time.perf_counter()-t;"
        "print(d,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {out.stderr[-2000:]}")
    seconds, kib = out.stdout.split()
    return Timed(float(seconds), int(kib) / 1024)


def warm(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass


def ours(folder: Path, ftype: str, out: Path, threads: int) -> Timed:
    quantpick = [sys.executable, "-m", "engine.cli"]
    result = timed([*quantpick, "convert", str(folder), "-t", ftype, "-o", str(out), "--threads", str(threads)])
    out.unlink()
    return result


def llama(args: argparse.Namespace, folder: Path, work: Path, threads: int) -> dict[str, Timed]:
    bf16 = work / "llama-bf16.gguf"
    results = {"convert": timed([str(args.llama_python), str(args.llama_convert), str(folder),
                                 "--outtype", "bf16", "--outfile", str(bf16)])}
    for ftype in ("Q8_0", "Q4_K_M"):
        out = work / f"llama-{ftype}.gguf"
        results[ftype] = timed([str(args.llama_quantize), str(bf16), str(out), ftype, str(threads)])
        out.unlink()
    bf16.unlink()
    return results


def bench_shape(args: argparse.Namespace, shape: Shape, label: str, work: Path) -> list[str]:
    folder = write_checkpoint(work / label, shape)
    warm(folder)
    rows = []
    ref = llama(args, folder, work, args.threads) if args.llama_convert and args.llama_quantize else None
    for ftype in ("Q8_0", "Q4_K_M"):
        mine = ours(folder, ftype, work / f"ours-{ftype}.gguf", args.threads)
        if ref:
            theirs = ref["convert"].seconds + ref[ftype].seconds
            peak = max(ref["convert"].peak_rss_mb, ref[ftype].peak_rss_mb)
            rows.append(f"| {label} | {ftype} | {mine.seconds:.1f} | {mine.peak_rss_mb:.0f} | "
                        f"{ref['convert'].seconds:.1f} + {ref[ftype].seconds:.1f} = {theirs:.1f} | {peak:.0f} | "
                        f"{theirs / mine.seconds:.2f}x |")
        else:
            rows.append(f"| {label} | {ftype} | {mine.seconds:.1f} | {mine.peak_rss_mb:.0f} | - | - | - |")
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.convert", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--with-3b", action="store_true", help="also a 3B-shaped model (flat-memory check)")
    parser.add_argument("--llama-convert", type=Path, help="llama.cpp's convert_hf_to_gguf.py")
    parser.add_argument("--llama-python", type=Path, default=Path(sys.executable), help="python that has torch")
    parser.add_argument("--llama-quantize", type=Path, default=os.environ.get("LLAMA_QUANTIZE") or None)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    shapes = [(TINYLLAMA, "1.1B")] + ([(THREE_B, "3B")] if args.with_3b else [])
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        rows = [row for shape, label in shapes for row in bench_shape(args, shape, label, Path(tmp))]
    header = [
        f"# HF -> GGUF conversion, {args.threads} threads, {time.strftime('%Y-%m-%d')}", "",
        "Wall time with disk I/O; page cache warm. llama.cpp = convert_hf_to_gguf --outtype bf16, then "
        "llama-quantize. Ratio = llama.cpp time / ours (above 1 means we are faster).", "",
        "| model | type | ours s | ours peak RSS MB | llama.cpp s | llama.cpp peak RSS MB | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    args.out.write_text("\n".join(header + rows) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
