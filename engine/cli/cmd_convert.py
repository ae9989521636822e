"""``quantpick convert SOURCE --type T``: write a quantized GGUF from a GGUF file or Hugging Face folder."""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.cli.common import add_command, human_bytes
from engine.convert.cleanup import remove_stale_partials
from engine.convert.open_source import open_source
from engine.convert.plan import ConversionPlan, make_plan
from engine.convert.run import ConversionResult, execute
from engine.convert.split_out import parse_split_size
from engine.errors import UsageError
from engine.progress import Progress
from engine.quant.cuda_warmup import CudaWarmup, start_cuda_warmup
from engine.quant.device import DEVICE_CHOICES, DeviceChoice, choose_device
from engine.quant.ftypes import FileType, parse_file_type
from engine.quant.gpu_pipeline import start_gpu
from engine.quant.imatrix import Imatrix, read_imatrix


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "convert",
        help="convert a Hugging Face folder or GGUF file to a quantized GGUF",
        description="Convert a checkpoint to GGUF of the given type, byte for byte as llama.cpp would. "
        "The output is written to a .partial file and renamed when complete.",
    )
    parser.add_argument("source", type=Path, help="a Hugging Face model folder or a .gguf file (any split part)")
    parser.add_argument("--type", "-t", required=True, dest="ftype",
                        help="target file type, as llama-quantize names it (Q4_K_M, Q8_0, F16, ...)")
    parser.add_argument("-o", "--output", type=Path, help="output file (default: llama.cpp's naming convention)")
    parser.add_argument("--out-dir", type=Path, help="folder for the default output name (default: here)")
    parser.add_argument("--pure", action="store_true", help="give every quantizable tensor the base type")
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where to quantize: gpu needs CuPy (pip install 'quantpick[gpu]') and an NVIDIA GPU; "
                        "auto (default) uses one when available, else the CPU")
    parser.add_argument("--allow-requantize", action="store_true",
                        help="allow quantizing an already-quantized GGUF again (loses quality)")
    parser.add_argument("--split-max-size", metavar="SIZE",
                        help="split the output into parts of at most SIZE (e.g. 4G, 500M), as llama.cpp's gguf-split")
    parser.add_argument("--imatrix", type=Path, metavar="FILE",
                        help="importance matrix (llama.cpp's GGUF or legacy .dat format) for better low-bit quality")
    parser.add_argument("--clamp", action="store_true",
                        help="store NaN as 0 and clamp infinite or too large weights to what the type holds, "
                        "instead of stopping with the tensor named")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the size, write nothing")
    parser.add_argument("--json", action="store_true", help="print the plan or the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    _remove_leftovers(args.output.parent if args.output is not None else args.out_dir or Path.cwd())
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1.")
    ftype = parse_file_type(args.ftype)
    split_bytes = parse_split_size(args.split_max_size) if args.split_max_size else None
    imatrix = read_imatrix(args.imatrix) if args.imatrix else None
    if args.output is not None and args.output.resolve() == args.source.resolve():
        raise UsageError("The output would overwrite the source.", "Choose another output file name.")
    # The CUDA driver and context start on a thread of their own while CuPy is imported (which holds the GIL).
    warmup = None if args.dry_run or args.device == "cpu" else start_cuda_warmup()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="device-start") as starter:
        # Choosing and starting a GPU (CuPy, NVML, the CUDA context) overlaps reading the source's header.
        starting = None if args.dry_run else starter.submit(_start_device, args.device, warmup)
        result, device = _convert(args, ftype, split_bytes, imatrix, starting)
    if result is None:
        return 0
    if sys.stderr.isatty() and not args.json:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps({"output": str(result.output), "bytes": result.bytes_written,
                          "tensors": result.n_tensors, "seconds": round(result.seconds, 3),
                          "device": device.describe()}, indent=2))
    else:
        where = f" on {device.describe()}" if device.is_gpu else ""
        print(f"Wrote {result.output} ({human_bytes(result.bytes_written)}) in {result.seconds:.1f} s{where}.")
    return 0


def _start_device(request: str, warmup: CudaWarmup | None) -> DeviceChoice:
    """Choose and start the device; unless it is a GPU, the warm-up's context (its GPU memory) goes back."""
    choice: DeviceChoice | None = None
    try:
        choice = choose_device(request)
        start_gpu(choice)
        return choice
    finally:
        if warmup is not None and (choice is None or not choice.is_gpu):
            warmup.release()


def _convert(
    args: argparse.Namespace, ftype: FileType, split_bytes: int | None, imatrix: Imatrix | None,
    starting: Future[DeviceChoice] | None,
) -> tuple[ConversionResult | None, DeviceChoice]:
    """Open, plan and (unless a dry run, which prints the plan and returns no result) execute."""
    with open_source(args.source, ftype) as source:
        if source.already_quantized and args.allow_requantize:
            print("quantpick: warning: requantizing an already-quantized model loses quality.", file=sys.stderr)
        plan = make_plan(source, ftype, output=args.output, out_dir=args.out_dir, pure=args.pure,
                         allow_requantize=args.allow_requantize, split_max_bytes=split_bytes,
                         has_imatrix=imatrix is not None, extra_metadata=imatrix.metadata() if imatrix else ())
        if starting is None:
            print(json.dumps(plan.to_json(), indent=2) if args.json else describe_plan(plan))
            return None, DeviceChoice("cpu", "a dry run quantizes nothing")
        report = _terminal_progress if sys.stderr.isatty() and not args.json else _no_progress
        device = starting.result()
        result = execute(plan, source, threads=args.threads, imatrix=imatrix, progress=report, clamp=args.clamp,
                         device=device)
    return result, device


def _remove_leftovers(folder: Path) -> None:
    """Unfinished outputs of conversions that were killed (ours only, never a running one's)."""
    for path in remove_stale_partials([folder]):
        print(f"quantpick: removed {path}, left by a conversion that did not finish.", file=sys.stderr)


def describe_plan(plan: ConversionPlan) -> str:
    counts: dict[str, int] = {}
    for t in plan.tensors:
        counts[t.target.name] = counts.get(t.target.name, 0) + 1
    types = ", ".join(f"{n} x{c}" for n, c in sorted(counts.items()))
    return "\n".join([
        f"Source:     {plan.source_label}",
        f"Output:     {plan.output}" + (f" in {len(plan.parts)} parts" if len(plan.parts) > 1 else ""),
        f"File type:  {plan.ftype.name} ({plan.size.bits_per_weight:.2f} bits per weight)",
        f"Tensors:    {len(plan.tensors)} ({types})",
        f"Size:       {human_bytes(plan.total_bytes)} ({plan.total_bytes:,} bytes); "
        f"{human_bytes(plan.free_bytes)} free there",
    ])


def _terminal_progress(p: Progress) -> None:
    eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    print(f"\r{100 * p.fraction:5.1f}%  {p.rate / 1e6:7.1f} MB/s{eta}  {p.current[:40]:<40}",
          end="", file=sys.stderr, flush=True)


def _no_progress(p: Progress) -> None:
    pass
