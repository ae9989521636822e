"""``python -m bench.gpu --out FILE``: our GPU path against our CPU path and llama-quantize, end to end.

A TinyLlama-1.1B-shaped BF16 checkpoint (``--with-7b``: also a 7B-shaped one) is converted to Q4_K_M and
Q8_0 from two inputs: the Hugging Face folder, and the BF16 GGUF our converter writes from it (the file
llama.cpp's convert_hf_to_gguf would write; llama-quantize needs a GGUF). Every figure is a whole
``quantpick convert`` or ``llama-quantize`` process with disk I/O, page cache warm; ``in-process`` is the
conversion's own time from ``--json``, without Python start-up or CuPy's import. A GPU figure follows one
untimed run that fills CuPy's kernel cache. The read limit is the time to read the input files once from
the page cache; ``GPU / read`` says how close the GPU path gets to it. ``identical`` compares the tensor
bytes of every output of one row (ours on the GPU, ours on the CPU, llama-quantize's). The llama-quantize
binary is given with ``--llama-quantize``; this script never builds one (bench/GPU.md says how).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFReader

from bench.checkpoint import TINYLLAMA, Shape, write_checkpoint

SEVEN_B = Shape(vocab=32000, n_embd=4096, n_ff=11008, n_layer=32, n_head=32, n_head_kv=32)
QUANTPICK = [sys.executable, "-m", "engine.cli"]


@dataclass(frozen=True, slots=True)
class Timed:
    """The fastest of several runs: wall time of the process, and the conversion's own time if it reports one."""

    wall_s: float
    inner_s: float | None


def run_process(cmd: list[str]) -> tuple[float, str]:
    """Run ``cmd``; its wall time and stdout. RuntimeError with the end of stderr if it fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed ({done.returncode}): {done.stderr[-2000:]}")
    return took, done.stdout


def best_of(cmd: list[str], repeat: int, output: Path) -> Timed:
    """Fastest of ``repeat`` runs; each starts with ``output`` deleted and the disk idle, untimed.

    Otherwise every run would also pay for dropping the previous run's file from the page cache, and
    for its write-back still going on, which a user converting to a new file never does.
    """
    runs = []
    for _ in range(max(1, repeat)):
        output.unlink(missing_ok=True)
        os.sync()
        wall, stdout = run_process(cmd)
        inner = json.loads(stdout)["seconds"] if stdout.lstrip().startswith("{") else None
        runs.append(Timed(wall, inner))
    return min(runs, key=lambda r: r.wall_s)


def read_limit(paths: list[Path], repeat: int = 3) -> float:
    """Fastest time to read every file once in 16 MiB reads (from the page cache after the first pass)."""
    best = float("inf")
    for _ in range(repeat + 1):  # the first pass warms the cache
        start = time.perf_counter()
        for path in paths:
            with open(path, "rb", buffering=0) as fh:
                while fh.read(1 << 24):
                    pass
        best = min(best, time.perf_counter() - start)
    return best


def tensor_digest(path: Path) -> str:
    """sha256 over every tensor's name and bytes: equal for files that differ only in metadata."""
    h = hashlib.sha256()
    for t in GGUFReader(path).tensors:
        h.update(t.name.encode())
        h.update(np.ascontiguousarray(t.data).view(np.uint8).data)
    return h.hexdigest()


def ours(source: Path, ftype: str, out: Path, device: str, threads: int) -> list[str]:
    return [*QUANTPICK, "convert", str(source), "-t", ftype, "-o", str(out), "--device", device,
            "--threads", str(threads), "--json"]


@dataclass(frozen=True, slots=True)
class Row:
    model: str
    source: str
    ftype: str
    read_s: float
    gpu: Timed
    cpu: Timed | None
    llama: Timed | None
    identical: bool | None  # None: only one output, nothing to compare

    def render(self, threads: int) -> str:
        cpu = f"{self.cpu.wall_s:.2f} ({self.cpu.inner_s:.2f})" if self.cpu and self.cpu.inner_s else "-"
        llama = f"{self.llama.wall_s:.2f}" if self.llama else "-"
        vs_llama = f"{self.llama.wall_s / self.gpu.wall_s:.1f}x" if self.llama else "-"
        vs_cpu = f"{self.cpu.wall_s / self.gpu.wall_s:.1f}x" if self.cpu else "-"
        return (f"| {self.model} | {self.source} | {self.ftype} | {self.read_s:.2f} | {self.gpu.wall_s:.2f} "
                f"({self.gpu.inner_s:.2f}) | {cpu} | {llama} | {vs_llama} | {vs_cpu} | "
                f"{self.gpu.wall_s / self.read_s:.1f}x | {_yes_no(self.identical)} |")


def _yes_no(identical: bool | None) -> str:
    return "-" if identical is None else "yes" if identical else "**NO**"


def bench_row(args: argparse.Namespace, model: str, source: Path, ftype: str, work: Path, read_s: float) -> Row:
    outs = {"gpu": work / "gpu.gguf", "cpu": work / "cpu.gguf", "llama": work / "llama.gguf"}
    run_process(ours(source, ftype, outs["gpu"], "gpu", args.threads))  # fills CuPy's kernel cache
    gpu = best_of(ours(source, ftype, outs["gpu"], "gpu", args.threads), args.repeat, outs["gpu"])
    cpu = None if args.no_cpu else best_of(ours(source, ftype, outs["cpu"], "cpu", args.threads), args.slow_repeat,
                                           outs["cpu"])
    llama = None
    if args.llama_quantize and source.suffix == ".gguf":
        cmd = [str(args.llama_quantize), str(source), str(outs["llama"]), ftype, str(args.threads)]
        llama = best_of(cmd, args.slow_repeat, outs["llama"])
    digests = [tensor_digest(p) for p in outs.values() if p.exists()]
    for p in outs.values():
        p.unlink(missing_ok=True)
    identical = len(set(digests)) == 1 if len(digests) > 1 else None
    row = Row(model, "GGUF BF16" if source.suffix == ".gguf" else "HF folder", ftype, read_s, gpu, cpu, llama,
              identical)
    print(row.render(args.threads), file=sys.stderr, flush=True)
    return row


def prepare(args: argparse.Namespace, shape: Shape, label: str, work: Path) -> tuple[Path, Path]:
    """The HF folder and the BF16 GGUF of a shape, reused from ``work`` when already there.

    When only the GGUF is benchmarked, the folder is deleted once the GGUF is written: for the 7B shape that
    frees 13.5 GB of disk and page cache.
    """
    folder = work / f"{label}-hf"
    bf16 = work / f"{label}-bf16.gguf"
    if not bf16.exists() and not (folder / "config.json").exists():
        start = time.perf_counter()
        write_checkpoint(folder, shape)
        print(f"{label}: HF folder written in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    if not bf16.exists():
        took, _ = run_process([*QUANTPICK, "convert", str(folder), "-t", "BF16", "-o", str(bf16), "--device", "cpu"])
        print(f"{label}: BF16 GGUF written in {took:.1f} s", file=sys.stderr, flush=True)
    if "hf" not in getattr(args, "inputs", ["hf"]):
        shutil.rmtree(folder, ignore_errors=True)
    return folder, bf16


def header(args: argparse.Namespace) -> list[str]:
    from engine.hardware.nvidia import probe_nvidia  # noqa: PLC0415 - only for the table's header
    from engine.quant.device import choose_device  # noqa: PLC0415

    notes: list[str] = []
    gpus = probe_nvidia(notes)
    choice = choose_device("auto")
    bw = [f"{g.name}: {g.bandwidth_bytes_s / 1e12:.2f} TB/s" for g in gpus if g.bandwidth_bytes_s]
    return [
        f"# HF/GGUF -> GGUF on the GPU, {time.strftime('%Y-%m-%d')}", "",
        f"Device: {choice.describe()}, batches of {choice.batch_values:,} values ({choice.reason}); "
        f"NVML bandwidth: {', '.join(bw) or 'unknown'}. CPU: {os.cpu_count()} cores, "
        f"{args.threads} threads for ours on the CPU and for llama-quantize ({args.llama_quantize or 'not given'}).",
        "",
        "Seconds, wall time of the whole process with disk I/O, page cache warm; in brackets the conversion's "
        "own time (no Python start-up or imports). x = times faster than the GPU path's wall time; "
        "GPU / read = GPU wall time over the time to read the input once.", "",
        "| model | input | type | read s | ours GPU s | ours CPU s | llama-quantize s | GPU vs llama | "
        "GPU vs CPU | GPU / read | identical |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write")
    parser.add_argument("--llama-quantize", type=Path, default=os.environ.get("LLAMA_QUANTIZE") or None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all)")
    parser.add_argument("--types", nargs="+", default=["Q4_K_M", "Q8_0"])
    parser.add_argument("--inputs", nargs="+", choices=["gguf", "hf"], default=["gguf", "hf"])
    parser.add_argument("--with-7b", action="store_true", help="also a 7B-shaped model (about 13.5 GB of BF16)")
    parser.add_argument("--only-7b", action="store_true", help="only the 7B-shaped model (a call of its own)")
    parser.add_argument("--repeat", type=int, default=3, help="timed GPU runs per figure; the fastest counts")
    parser.add_argument("--slow-repeat", type=int, default=1, help="timed CPU and llama-quantize runs per figure")
    parser.add_argument("--no-cpu", action="store_true", help="skip our CPU path (it is the slowest part)")
    parser.add_argument("--work", type=Path, default=None, help="folder for checkpoints, kept and reused")
    args = parser.parse_args(argv)
    if args.llama_quantize is not None and not os.access(args.llama_quantize, os.X_OK):
        parser.error(f"{args.llama_quantize} is not an executable file")
    lines = header(args)
    shapes = ([] if args.only_7b else [(TINYLLAMA, "1.1B")]) + (
        [(SEVEN_B, "7B")] if args.with_7b or args.only_7b else [])
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = args.work or Path(tmp)
        for shape, label in shapes:
            folder, bf16 = prepare(args, shape, label, work)
            for kind in args.inputs:
                source = bf16 if kind == "gguf" else folder
                files = [bf16] if kind == "gguf" else sorted(folder.glob("*.safetensors"))
                read_s = read_limit(files)
                for ftype in args.types:
                    lines.append(bench_row(args, label, source, ftype, Path(tmp), read_s).render(args.threads))
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
