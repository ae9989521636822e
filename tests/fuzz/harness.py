"""Run fuzz inputs one at a time under a 2-second timer and a memory ceiling, and judge the outcome.

An input passes when the parser either accepts it (and the target's use of the result works) or raises
a QuantpickError subclass whose message is a clear sentence and whose hint says what to do. Anything
else fails: another exception, more than ``TIME_LIMIT_S`` seconds, or a memory demand past
``MEMORY_LIMIT``. Memory is enforced with the address-space limit (``RLIMIT_AS``) set to what the
process already maps plus ``MEMORY_LIMIT`` for the duration of one input, so an allocation sized by a
lying header number fails at once as MemoryError instead of swapping; the peak resident size of each
input is measured too (``VmHWM`` after resetting it through ``/proc/self/clear_refs``). Without
``/proc`` (not Linux), tracemalloc measures the peak instead.
"""

from __future__ import annotations

import random
import resource
import shutil
import signal
import time
import tracemalloc
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import QuantpickError
from tests.fuzz.targets import Case, Target

TIME_LIMIT_S = 2.0
MEMORY_LIMIT = 256 << 20
MAX_MESSAGE_CHARS = 1000


class Hang(BaseException):
    """Raised by the interval timer inside a parser that runs too long (BaseException: never swallowed)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise Hang()


def message_problem(e: QuantpickError) -> str | None:
    """Why an error's text is not a clear, one-line, actionable message (None when it is)."""
    text = f"{e.message} {e.hint}"
    if type(e) is QuantpickError:
        return "raised the base class instead of a specific error"
    if not isinstance(e.message, str) or len(e.message.strip()) < 15:
        return f"message too short: {e.message!r}"
    if not e.hint or not e.hint.strip():
        return "no hint"
    if len(text) > MAX_MESSAGE_CHARS:
        return f"message of {len(text)} characters"
    if "\n" in text or "Traceback" in text:
        return "message spans lines"
    if not e.message.rstrip().endswith((".", "?", "!", ")")):
        return f"message is not a sentence: {e.message[-60:]!r}"
    return None


@dataclass(frozen=True, slots=True)
class Failure:
    target: str
    index: int
    kind: str  # escaped, hang, slow, memory, message
    detail: str
    label: str


@dataclass
class Tally:
    """Counts for one target: inputs run, accepted, rejected by error class, and the failures."""

    target: str
    inputs: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    slowest_s: float = 0.0
    peak_bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "inputs": self.inputs, "accepted": self.accepted,
                "rejected": dict(self.rejected), "failures": [_failure_dict(f) for f in self.failures],
                "slowest_s": round(self.slowest_s, 4), "peak_bytes": self.peak_bytes}


def _failure_dict(f: Failure) -> dict[str, object]:
    return {"index": f.index, "kind": f.kind, "detail": f.detail, "label": f.label}


def case_rng(seed: int, target: str, index: int) -> random.Random:
    """The generator of input ``index``: any single input can be replayed from (seed, target, index)."""
    return random.Random(f"{seed}/{target}/{index}")


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {key} in /proc/self/status")


def _proc_meter_works() -> bool:
    try:
        _status_bytes("VmHWM")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


USE_PROC = _proc_meter_works()


@dataclass
class Peak:
    bytes: int = 0


@contextmanager
def memory_ceiling(limit: int = MEMORY_LIMIT) -> Iterator[Peak]:
    """Allow ``limit`` more bytes of address space for the block; report its peak resident growth."""
    peak = Peak()
    if not USE_PROC:
        tracing = not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            yield peak
        finally:
            peak.bytes = tracemalloc.get_traced_memory()[1] - base
            if tracing:
                tracemalloc.stop()
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = _status_bytes("VmSize") + limit
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # VmHWM := current resident size
    base = _status_bytes("VmRSS")
    resource.setrlimit(resource.RLIMIT_AS, (ceiling if hard == resource.RLIM_INFINITY else min(ceiling, hard), hard))
    try:
        yield peak
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        peak.bytes = max(0, _status_bytes("VmHWM") - base)


def _write(case: Case, folder: Path) -> None:
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    for name, sample in case.files.items():
        sample.write(folder / name)


def run_one(case: Case, folder: Path) -> tuple[str, str, float, int]:
    """(outcome, detail, seconds, peak bytes); outcome is accepted, an error class name, or a failure kind."""
    _write(case, folder)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()
    try:
        with memory_ceiling() as peak:
            signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a warning printed at the user is a failure too
                    case.run(folder)
                outcome, detail = "accepted", ""
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except Hang:
        outcome, detail = "hang", f"still running after {TIME_LIMIT_S} s"
    except MemoryError as e:
        outcome, detail = "memory", f"MemoryError past the {MEMORY_LIMIT >> 20} MiB ceiling at {_where(e)}"
    except QuantpickError as e:
        problem = message_problem(e)
        outcome, detail = (type(e).__name__, str(e)[:200]) if problem is None else ("message", problem)
    except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
        outcome = "escaped"
        detail = f"{type(e).__name__}: {str(e)[:200]} at {_where(e)}"
    finally:
        signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - start
    if outcome not in ("hang", "escaped", "message", "memory"):
        if seconds > TIME_LIMIT_S:
            outcome, detail = "slow", f"took {seconds:.2f} s"
        elif peak.bytes > MEMORY_LIMIT:
            outcome, detail = "memory", f"resident memory grew by {peak.bytes >> 20} MiB"
    return outcome, detail, seconds, peak.bytes


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "/engine/" in f.filename] or frames
    f = ours[-1] if ours else None
    return f"{Path(f.filename).name}:{f.lineno}" if f else "?"


FAILURE_KINDS = frozenset({"hang", "escaped", "message", "slow", "memory"})


def campaign(
    target: Target, count: int, seed: int, folder: Path, *, start: int = 0,
    keep: Callable[[Failure, Path], None] | None = None,
) -> Tally:
    """Run inputs ``start .. start+count-1`` of ``target``; ``keep`` may save each failing input."""
    tally = Tally(target.name)
    for index in range(start, start + count):
        case = target.make(case_rng(seed, target.name, index))
        outcome, detail, seconds, peak = run_one(case, folder)
        tally.inputs += 1
        tally.slowest_s = max(tally.slowest_s, seconds)
        tally.peak_bytes = max(tally.peak_bytes, peak)
        if outcome == "accepted":
            tally.accepted += 1
        elif outcome in FAILURE_KINDS:
            failure = Failure(target.name, index, outcome, detail, case.label)
            tally.failures.append(failure)
            if keep is not None:
                keep(failure, folder)
        else:
            tally.rejected[outcome] += 1
    return tally
