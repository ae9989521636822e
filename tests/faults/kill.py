"""SIGKILL of a ``quantpick convert`` child process at a random moment; the next start cleans up.

A kill runs no clean-up code at all, so this is where the ledger earns its keep: before the next
start, a file under a final name may only be a complete part (byte-identical to an undisturbed run);
after the next ``quantpick convert`` start (a ``--dry-run``, which writes nothing itself), nothing of
the killed run may remain.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFValueType

from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_write import GGUFStreamWriter, MetaValue, TensorSlot
from tests.conftest import GOLDEN
from tests.faults.scenarios import Record, check_empty, check_source, digest

ROOT = Path(__file__).resolve().parents[2]
SYNTH = GOLDEN / "requant" / "synth-a-f32.gguf"
HF = GOLDEN / "convert" / "hf-tiny-llama-spm"
BIG_LAYERS = 24
# (source, type, split size, weight): a long quantization, a split output, a Hugging Face folder.
CONFIGS = (("big", "Q4_K_M", None, 5), ("big", "Q8_0", "5M", 4), ("hf", "Q8_0", None, 2))
QUICK_CONFIGS = (("big", "Q8_0", "5M", 1),)


def build_big_source(path: Path) -> Path:
    """synth-a's metadata with 24 layers (layer i a copy of layer i % 4): ~55 MB of F32 that takes a while."""
    g = read_gguf(SYNTH)
    meta = [(k, MetaValue(GGUFValueType.UINT32, BIG_LAYERS) if k == "llama.block_count" else v)
            for k, v in g.fields.items()]
    plan: list[tuple[str, str]] = [("token_embd.weight", "token_embd.weight")]
    layer = [t.name.split(".", 2)[2] for t in g.tensors if t.name.startswith("blk.0.")]
    plan += [(f"blk.{i}.{part}", f"blk.{i % 4}.{part}") for i in range(BIG_LAYERS) for part in layer]
    plan += [("output_norm.weight", "output_norm.weight"), ("output.weight", "output.weight")]
    slots = [TensorSlot(name, g.tensor(src).shape, g.tensor(src).qtype) for name, src in plan]
    with GGUFStreamWriter(path, meta, slots) as w:
        for _, src in plan:
            w.write(np.asarray(g.raw(src)))
    return path


@dataclass(frozen=True, slots=True)
class Calibration:
    """An undisturbed run: when its first partial appeared, when its output was complete (last rename,
    ledger gone), when the process ended, and the bytes it wrote."""

    first_partial_s: float
    done_s: float
    end_s: float
    outputs: dict[str, bytes]


class KillLab:
    """Sources and calibrations shared by the kill runs of one session."""

    def __init__(self, work: Path, configs: tuple[tuple[str, str, str | None, int], ...] = CONFIGS) -> None:
        self.work = work
        self.configs = configs
        self.big = build_big_source(work / "synth-big-f32.gguf")
        self._calibrations: dict[tuple[str, str, str | None], Calibration] = {}

    def source(self, kind: str) -> Path:
        return self.big if kind == "big" else HF

    def command(self, kind: str, ftype: str, split: str | None, out: Path, *extra: str) -> list[str]:
        cmd = [sys.executable, "-m", "engine.cli", "convert", str(self.source(kind)), "-t", ftype, "-o", str(out)]
        return cmd + (["--split-max-size", split] if split else []) + list(extra)

    def calibration(self, kind: str, ftype: str, split: str | None) -> Calibration:
        key = (kind, ftype, split)
        if key not in self._calibrations:
            out_dir = self.work / "calibrate"
            out_dir.mkdir(exist_ok=True)
            proc = subprocess.Popen(self.command(kind, ftype, split, out_dir / "model.gguf"), cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            start, first, done = time.monotonic(), None, None
            while proc.poll() is None:
                names = [p.name for p in out_dir.iterdir()]
                busy = [n for n in names if n.endswith((".partial", ".owner", ".tmp"))]
                if first is None and busy:
                    first = time.monotonic() - start
                if first is not None and done is None and names and not busy:
                    done = time.monotonic() - start
                time.sleep(0.002)
            end = time.monotonic() - start
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
            outputs = {p.name: p.read_bytes() for p in out_dir.iterdir()}
            for p in out_dir.iterdir():
                p.unlink()
            first = first if first is not None else end / 2
            self._calibrations[key] = Calibration(first, done if done is not None else end, end, outputs)
        return self._calibrations[key]


def sigkill(rng: random.Random, lab: KillLab) -> Record:
    kind, ftype, split, _ = rng.choices(lab.configs, [c[3] for c in lab.configs])[0]
    cal = lab.calibration(kind, ftype, split)
    src = lab.source(kind)
    before = digest(src)
    out_dir = lab.work / "out"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / "model.gguf"
    if rng.random() < 0.8:  # while it writes, mostly
        at = rng.uniform(max(0.0, cal.first_partial_s - 0.02), cal.done_s)
    else:
        at = rng.uniform(0.0, cal.end_s)
    proc = subprocess.Popen(lab.command(kind, ftype, split, out), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.monotonic()
    while proc.poll() is None and time.monotonic() - start < at:
        time.sleep(0.001)
    killed = proc.poll() is None
    if killed:
        proc.kill()
    proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    left = sorted(p.name for p in out_dir.iterdir())
    for name in left:  # before clean-up: no torn file under a final name
        if name in cal.outputs:
            assert (out_dir / name).read_bytes() == cal.outputs[name], f"{name} is incomplete after the kill"
    # Killed after the last rename and the ledger's removal (while printing or exiting): it had finished.
    finished = not killed or left == sorted(cal.outputs)
    if finished:
        assert not killed and proc.returncode == 0 or killed, stderr
        assert left == sorted(cal.outputs), left
        for name in left:
            (out_dir / name).unlink()
    else:
        nxt = subprocess.run(lab.command(kind, ftype, split, out, "--dry-run"), cwd=ROOT, capture_output=True,
                             text=True)
        assert nxt.returncode == 0, nxt.stderr
        check_empty(out_dir)
    check_source(src, before)
    partials = sum(name.endswith(".partial") for name in left)
    return Record("sigkill", f"{kind} -> {ftype}{' split ' + split if split else ''}, killed at {at:.3f} s "
                  f"of {cal.end_s:.2f} s; left {len(left)} file(s) ({partials} partial) for the next start",
                  not finished)
