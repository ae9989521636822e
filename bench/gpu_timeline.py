"""``python -m bench.gpu_timeline --work DIR --out FILE``: when each step of a GPU conversion starts and ends.

``bench.gpu`` gives whole-process times; this says where inside the process they go, on the same
TinyLlama-shaped BF16 GGUF (prepared by ``bench.gpu`` in ``--work``). Each timed run is a fresh process;
times are seconds since the parent started it, so interpreter start-up and exit count too.

- ``start-up steps``: a bare process doing what choosing and starting a GPU does, one step after another
  (imports, NVML, CuPy, the CUDA context, the kernel module), then the same steps with NVML on one thread
  and CuPy on another, to see what may overlap.
- ``convert``: ``quantpick convert`` itself, with the engine's steps wrapped to note their start and end
  (opening the source, planning, choosing and starting the device, the pipeline, the last batch, the final
  fsync, the read-back check), and the process's exit after ``main`` returned.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

_T0_ENV = "QP_TIMELINE_T0"
_EVENTS: list[tuple[str, str, float, float]] = []


def _since_start() -> float:
    return time.time() - float(os.environ[_T0_ENV])


def _note(name: str, start: float) -> None:
    _EVENTS.append((name, threading.current_thread().name, start, _since_start()))


def _timed(name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - wraps anything
    start = _since_start()
    try:
        return fn(*args, **kwargs)
    finally:
        _note(name, start)


def _wrap(owner: object, attr: str, name: str) -> None:
    original = getattr(owner, attr)

    def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return _timed(name, original, *args, **kwargs)

    setattr(owner, attr, wrapped)


def _steps_child(parallel: bool) -> None:
    """Choosing and starting a GPU, step by step (or NVML beside CuPy when ``parallel``)."""
    _note("interpreter up", 0.0)
    _timed("import numpy", __import__, "numpy")
    _timed("import engine modules", __import__, "engine.cli.cmd_convert")

    def nvml() -> None:
        import pynvml  # noqa: PLC0415

        _timed("nvmlInit", pynvml.nvmlInit)
        handle = _timed("nvml handle", pynvml.nvmlDeviceGetHandleByIndex, 0)
        _timed("nvml memory info", pynvml.nvmlDeviceGetMemoryInfo, handle)
        _timed("nvmlShutdown", pynvml.nvmlShutdown)

    def cuda() -> None:
        cupy = _timed("import cupy", __import__, "cupy")
        _timed("cuInit (device count)", cupy.cuda.runtime.getDeviceCount)
        _timed("PCI bus id", cupy.cuda.runtime.deviceGetPCIBusId, 0)
        with cupy.cuda.Device(0):
            _timed("context (first allocation)", cupy.empty, 1, dtype=cupy.uint8)
            from engine.quant import cuda_kernels  # noqa: PLC0415

            _timed("kernel module", cuda_kernels.load, cupy)

    if parallel:
        other = threading.Thread(target=nvml, name="nvml")
        other.start()
        cuda()
        other.join()
    else:
        nvml()
        cuda()


def _convert_child(argv: list[str], *, early: bool, fast_exit: bool = False) -> None:
    """``quantpick convert`` with the engine's steps noted.

    ``early`` tries a change before making it: the GPU is chosen and started on a thread from the first
    line of the process, while the engine is still being imported, instead of once the command runs.
    """
    _note("interpreter up", 0.0)
    if early:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        def start_early():  # noqa: ANN202
            from engine.quant.device import choose_device  # noqa: PLC0415
            from engine.quant.gpu_pipeline import start_gpu  # noqa: PLC0415

            choice = _timed("early: choose device", choose_device, "gpu")
            _timed("early: start GPU", start_gpu, choice)
            return choice

        started = ThreadPoolExecutor(1, thread_name_prefix="early").submit(start_early)
    from engine.cli import cmd_convert, main  # noqa: PLC0415
    from engine.convert import run  # noqa: PLC0415
    from engine.formats.gguf_write import GGUFStreamWriter  # noqa: PLC0415
    from engine.quant import gpu_pipeline  # noqa: PLC0415

    _note("engine imported", 0.0)
    for attr, name in (("open_source", "open source"), ("make_plan", "plan"), ("choose_device", "choose device"),
                       ("start_gpu", "start GPU"), ("execute", "execute")):
        _wrap(cmd_convert, attr, name)
    if early:
        cmd_convert._start_device = lambda _request: started.result()  # noqa: SLF001
    _wrap(run, "verify_output", "verify output")
    _wrap(gpu_pipeline.GpuPipeline, "__init__", "pipeline buffers")
    _wrap(gpu_pipeline.GpuPipeline, "close", "pipeline close")
    _wrap(GGUFStreamWriter, "_finish", "final flush, fsync, rename")
    _wrap(GGUFStreamWriter, "write", "write")
    finish = gpu_pipeline.GpuPipeline._finish

    def noted_finish(self, loaded, fallback):  # noqa: ANN001, ANN202
        start = _since_start()
        yield from finish(self, loaded, fallback)
        _note("batch", start)

    gpu_pipeline.GpuPipeline._finish = noted_finish
    code = _timed("main", main.main, argv)
    _note("main returned", _since_start())
    if code:
        raise SystemExit(code)
    if fast_exit:
        sys.stdout.flush()
        Path(os.environ["QP_TIMELINE_OUT"]).write_text(json.dumps(_EVENTS))
        os._exit(0)


def _child(mode: str, argv: list[str]) -> None:
    try:
        if mode.startswith("convert"):
            _convert_child(argv, early=mode == "convert-early", fast_exit=mode == "convert-exit")
        else:
            _steps_child(parallel=mode == "parallel")
    finally:
        Path(os.environ["QP_TIMELINE_OUT"]).write_text(json.dumps(_EVENTS))


def _run_child(mode: str, argv: list[str], events_file: Path) -> tuple[float, list[list]]:
    env = dict(os.environ, QP_TIMELINE_OUT=str(events_file), **{_T0_ENV: repr(time.time())})
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.gpu_timeline", "--child", mode, *argv], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - start, json.loads(events_file.read_text())


def _summarise(runs: list[tuple[float, list[list]]]) -> list[str]:
    """Median start and end of each named step over the runs (batches: first start, last end, count)."""
    table: dict[str, list[tuple[float, float]]] = {}
    for _, events in runs:
        for repeated, plural in (("batch", "batches"), ("write", "writes")):  # many short events: folded
            each = [e for e in events if e[0] == repeated]
            if each:
                busy = sum(e[3] - e[2] for e in each)
                events = [e for e in events if e[0] != repeated] + [
                    [f"{plural} ({len(each)}), first start to last end", "", each[0][2], each[-1][3]],
                    [f"{plural}, time inside them (summed)", "", each[0][2], each[0][2] + busy]]
        for name, _thread, start, end in events:
            table.setdefault(name, []).append((start, end))
    rows = sorted(table.items(), key=lambda kv: statistics.median(s for s, _ in kv[1]))
    lines = ["| step | starts | ends | takes |", "|---|---|---|---|"]
    for name, spans in rows:
        start = statistics.median(s for s, _ in spans)
        end = statistics.median(e for _, e in spans)
        lines.append(f"| {name} | {start:.3f} | {end:.3f} | {end - start:.3f} |")
    walls = [w for w, _ in runs]
    lines.append(f"| whole process (parent's clock) | 0.000 | {statistics.median(walls):.3f} | "
                 f"min {min(walls):.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_timeline", description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="bench.gpu's folder (its 1.1B BF16 GGUF)")
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write")
    parser.add_argument("--types", nargs="+", default=["Q4_K_M"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=["convert", "convert-early"],
                        help="convert, convert-early (the GPU started from the first line), convert-exit (os._exit after main)")
    parser.add_argument("--no-steps", action="store_true", help="skip the bare start-up steps")
    parser.add_argument("--model", choices=["1.1B", "7B"], default="1.1B", help="the checkpoint's shape")
    args = parser.parse_args(argv)
    from bench.checkpoint import TINYLLAMA  # noqa: PLC0415 - the parent only
    from bench.gpu import SEVEN_B, prepare  # noqa: PLC0415

    args.work.mkdir(parents=True, exist_ok=True)
    shape = SEVEN_B if args.model == "7B" else TINYLLAMA
    _, bf16 = prepare(argparse.Namespace(inputs=["gguf"]), shape, args.model, args.work)
    events_file = args.work / "timeline-events.json"
    report = [f"# Timeline of a GPU conversion, {args.model} shape (seconds since the process started; medians)", ""]
    for mode in () if args.no_steps else ("sequential", "parallel"):
        _run_child(mode, [], events_file)  # warm-up
        runs = [_run_child(mode, [], events_file) for _ in range(args.repeat)]
        report += [f"## Start-up steps, {mode}", "", *_summarise(runs), ""]
    for ftype in args.types:
        out = args.work / f"timeline-{ftype}.gguf"
        cli = ["convert", str(bf16), "-t", ftype, "-o", str(out), "--device", "gpu", "--json"]
        for mode in args.modes:
            _run_child(mode, cli, events_file)  # warm-up: kernel cache, bytecode, page cache
            runs = []
            for _ in range(args.repeat):
                out.unlink(missing_ok=True)
                os.sync()
                runs.append(_run_child(mode, cli, events_file))
            out.unlink(missing_ok=True)
            report += [f"## quantpick convert -t {ftype} --device gpu ({mode})", "", *_summarise(runs), ""]
    args.out.write_text("\n".join(report) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit(main())
