"""Run a fault scenario until it has hit a conversion N times, collecting every broken invariant."""

from __future__ import annotations

import random
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults import fullfs, kill, scenarios

SCENARIOS = ("cancel", "enospc", "full-disk", "sigkill")
MAX_ATTEMPTS_FACTOR = 3  # runs the fault came too late for do not count; give up after 3x the hits wanted


@dataclass
class FaultTally:
    scenario: str
    hits: int = 0  # runs where the fault stopped the conversion
    late: int = 0  # runs that finished before the fault (checked as complete, not counted)
    skipped: str | None = None
    failures: list[str] = field(default_factory=list)
    points: list[str] = field(default_factory=list)


def _runner(name: str, work: Path, *, quick: bool) -> tuple[Callable[[random.Random], scenarios.Record],
                                                            Callable[[], None]]:
    """The scenario as a one-argument call, and what to tear down afterwards."""
    if name == "cancel":
        return (lambda rng: scenarios.cancel(rng, work)), lambda: None
    if name == "enospc":
        return (lambda rng: scenarios.enospc(rng, work)), lambda: None
    if name == "sigkill":
        lab = kill.KillLab(work, kill.QUICK_CONFIGS if quick else kill.CONFIGS)
        return (lambda rng: kill.sigkill(rng, lab)), lambda: None
    mount_cm = fullfs.small_tmpfs(fullfs.MOUNT_BYTES)
    mount = mount_cm.__enter__()
    return (lambda rng: fullfs.full_disk(rng, mount)), lambda: mount_cm.__exit__(None, None, None)


def campaign(name: str, hits: int, seed: int, work: Path, *, quick: bool = False) -> FaultTally:
    """Run scenario ``name`` until ``hits`` runs were stopped by the fault (or 3x as many attempts).

    ``quick`` kills only the shortest conversion (the fast slice in ``make test``).
    """
    tally = FaultTally(name)
    if name == "full-disk":
        tally.skipped = fullfs.why_no_tmpfs()
        if tally.skipped:
            return tally
    work.mkdir(parents=True, exist_ok=True)
    run, teardown = _runner(name, work, quick=quick)
    try:
        for attempt in range(hits * MAX_ATTEMPTS_FACTOR):
            if tally.hits >= hits:
                break
            rng = random.Random(f"{seed}/{name}/{attempt}")
            try:
                record = run(rng)
            except Exception as e:  # noqa: BLE001 - a broken invariant or an unexpected error: report both
                tally.failures.append(f"run {attempt} (seed {seed}): {type(e).__name__}: {e}\n"
                                      + "".join(traceback.format_exception(e)[-3:]))
                _reset(work)
                continue
            tally.points.append(record.point)
            if record.stopped:
                tally.hits += 1
            else:
                tally.late += 1
    finally:
        teardown()
    return tally


def _reset(work: Path) -> None:
    """After a failed run, start the next one from an empty output folder."""
    out = work / "out"
    if out.is_dir():
        shutil.rmtree(out, ignore_errors=True)
