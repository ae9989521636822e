"""Faults during a conversion, each followed by the same checks.

Scenarios: cancel at a random point, ENOSPC injected at a random byte (or at fsync, or at the ledger),
a real full disk (a small tmpfs, when this process may mount one), and SIGKILL of a ``quantpick convert``
child at a random moment. Afterwards no file may exist under a final output name (after a SIGKILL: once
the next ``quantpick convert`` start has cleaned up; before that, only complete, byte-identical parts),
no ``.partial`` or ledger may remain, and every source file must hash exactly as before.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from engine.convert import cleanup, run as run_mod
from engine.convert.open_source import open_source
from engine.convert.plan import ConversionPlan, make_plan
from engine.errors import CancelledError, OutOfDiskError
from engine.formats import gguf_write
from engine.progress import CancelToken, Progress
from engine.quant.ftypes import parse_file_type
from tests.conftest import GOLDEN

SMALL_SOURCES = (GOLDEN / "requant" / "synth-a-f32.gguf", GOLDEN / "convert" / "hf-tiny-llama-spm")
FTYPES = ("Q8_0", "Q4_K_M", "Q6_K", "Q4_0", "F16", "IQ4_NL")
SMALL_CHUNK = 1 << 18  # many chunks, so many points at which a fault can land


@dataclass(frozen=True, slots=True)
class Record:
    """One fault run: where the fault landed and whether it stopped the conversion."""

    scenario: str
    point: str
    stopped: bool  # False: the fault came after the conversion had finished (not counted as a hit)


def digest(path: Path) -> dict[str, str]:
    """sha256 of every file of a source (one file, or a folder's files)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def check_source(path: Path, before: dict[str, str]) -> None:
    after = digest(path)
    assert after == before, f"the source {path} changed: {sorted(k for k in after if after[k] != before.get(k))}"


def check_empty(folder: Path, allowed: tuple[str, ...] = ()) -> None:
    """Nothing but ``allowed`` in the output folder: no output, no .partial, no ledger."""
    left = sorted(p.name for p in folder.iterdir() if p.name not in allowed)
    assert not left, f"left behind in {folder}: {left}"


def plan_for(source: Any, ftype: str, out: Path, rng: random.Random) -> ConversionPlan:
    """A plan for ``out``, split into 2-4 parts a third of the time."""
    plan = make_plan(source, ftype, output=out, allow_requantize=True)
    if rng.random() < 0.3:
        plan = make_plan(source, ftype, output=out, allow_requantize=True,
                         split_max_bytes=max(1, plan.total_bytes // rng.randint(2, 4)))
    return plan


def _outcome_parts(plan: ConversionPlan) -> list[Path]:
    return [part.path for part in plan.parts]


# -- cancel ----------------------------------------------------------------------------------------
def cancel(rng: random.Random, work: Path) -> Record:
    src, ftype = rng.choice(SMALL_SOURCES), rng.choice(FTYPES)
    before = digest(src)
    out_dir = work / "out"
    out_dir.mkdir(exist_ok=True)
    token = CancelToken()
    mode, at = rng.choice(["progress", "progress", "timer", "before"]), rng.random()

    def progress(p: Progress) -> None:
        if mode == "progress" and p.fraction >= at:
            token.cancel()

    timer = threading.Timer(at * 0.5, token.cancel) if mode == "timer" else None
    if mode == "before":
        token.cancel()
    stopped = True
    with mock.patch.object(run_mod, "CHUNK_INPUT_BYTES", SMALL_CHUNK), open_source(src, parse_file_type(ftype)) as s:
        plan = plan_for(s, ftype, out_dir / "model.gguf", rng)
        if timer is not None:
            timer.start()
        try:
            run_mod.execute(plan, s, threads=rng.choice([1, 2]), progress=progress, cancel=token)
            stopped = False
        except CancelledError:
            pass
        finally:
            if timer is not None:
                timer.cancel()
    check_source(src, before)
    if stopped:
        check_empty(out_dir)
    else:
        _remove_finished(plan)
    where = {"progress": f"at {at:.0%} of the bytes", "timer": f"after {at * 0.5:.3f} s", "before": "before start"}
    return Record("cancel", f"{src.name} -> {ftype} in {len(plan.parts)} part(s), {where[mode]}", stopped)


def _remove_finished(plan: ConversionPlan) -> None:
    """A run the fault came too late for: its outputs must be complete; clear them for the next run."""
    run_mod.verify_output(plan)
    for path in _outcome_parts(plan):
        path.unlink()
    check_empty(plan.output.parent)


# -- ENOSPC, injected --------------------------------------------------------------------------------
class _Disk:
    """Bytes left before the 'disk' is full, shared by every file the writer opens."""

    def __init__(self, budget: int) -> None:
        self.left = budget

    def full(self) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FillingRaw(io.FileIO):
    """A real file whose writes run out of space once the shared budget is spent: first a short write,
    then ENOSPC, as the kernel does. Wrapped in a BufferedWriter, the failure surfaces where it would
    on a real disk: in ``write``, ``flush`` or ``close``."""

    def __init__(self, path: Any, disk: _Disk) -> None:
        super().__init__(path, "w")
        self._disk = disk

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if not self._disk.left and len(view):
            raise self._disk.full()
        n = min(len(view), self._disk.left)
        self._disk.left -= n
        return super().write(view[:n])


@contextmanager
def _injected(where: str, budget: int, nth: int) -> Iterator[None]:
    disk = _Disk(budget)
    real_open = open

    def filling_open(path: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if mode != "wb":
            return real_open(path, mode, *args, **kw)
        return io.BufferedWriter(_FillingRaw(path, disk))

    calls = {"n": 0}

    def failing_call(real: Any) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == nth:
                raise disk.full()
            return real(*args, **kw)
        return call

    if where == "write":
        with mock.patch.object(gguf_write, "open", filling_open, create=True):
            yield
    elif where == "fsync":
        with mock.patch.object(gguf_write.os, "fsync", failing_call(os.fsync)):
            yield
    else:  # the ledger: its first write claims the output, later ones record finished parts
        with mock.patch.object(cleanup, "open", failing_call(real_open), create=True):
            yield


def enospc(rng: random.Random, work: Path) -> Record:
    src, ftype = rng.choice(SMALL_SOURCES), rng.choice(FTYPES)
    before = digest(src)
    out_dir = work / "out"
    out_dir.mkdir(exist_ok=True)
    where = rng.choice(["write"] * 6 + ["fsync", "ledger"])
    with mock.patch.object(run_mod, "CHUNK_INPUT_BYTES", SMALL_CHUNK), open_source(src, parse_file_type(ftype)) as s:
        plan = plan_for(s, ftype, out_dir / "model.gguf", rng)
        budget, nth = rng.randrange(plan.total_bytes + 1), rng.randint(1, len(plan.parts) + 1)
        stopped = True
        try:
            with _injected(where, budget, nth):
                run_mod.execute(plan, s, threads=rng.choice([1, 2]))
            stopped = False
        except OutOfDiskError:
            pass
    check_source(src, before)
    if stopped:
        check_empty(out_dir)
    else:
        _remove_finished(plan)
    point = f"after {budget:,} of {plan.total_bytes:,} bytes" if where == "write" else f"at {where} call #{nth}"
    return Record("enospc", f"{src.name} -> {ftype} in {len(plan.parts)} part(s), ENOSPC {point}", stopped)
