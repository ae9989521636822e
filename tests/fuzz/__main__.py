"""``python -m tests.fuzz``: the full fuzz run (``make fuzz``), one worker process per parser.

Each worker runs its share of inputs under the per-input timer and memory ceiling and prints a JSON
tally; a worker that dies (a crash in C code, or a hang the timer could not interrupt) is reported with
the input it was on. Failing inputs are saved under ``--out`` with the command that replays them.

    python -m tests.fuzz --count 10000            # every parser, 10,000 inputs each
    python -m tests.fuzz --targets gguf --only 1234 --seed 7   # replay one input
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
# Generous: a worker's inputs are 2 s at most each, and almost all take milliseconds.
WORKER_SECONDS_PER_INPUT = 0.25


def scratch_root() -> Path | None:
    """Memory-backed scratch space when there is some (inputs are written and read thousands of times)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def run_worker(target: str, count: int, seed: int, start: int, out: Path) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-", dir=scratch_root()))
    cmd = [sys.executable, "-m", "tests.fuzz.worker", "--target", target, "--count", str(count),
           "--seed", str(seed), "--start", str(start), "--work", str(work), "--out", str(out)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=60 + count * WORKER_SECONDS_PER_INPUT)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode in (0, 1) and lines:
            return json.loads(lines[-1])
        reason = f"worker exited with status {proc.returncode}: {proc.stderr.strip()[-500:]}"
    except subprocess.TimeoutExpired:
        reason = "worker ran past its time limit (a hang the per-input timer could not interrupt)"
    saved = out / target / "worker-died"
    shutil.copytree(work, saved, dirs_exist_ok=True)
    return {"target": target, "inputs": 0, "accepted": 0, "rejected": {},
            "failures": [{"index": -1, "kind": "crash", "detail": f"{reason}; last input in {saved}", "label": ""}]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="inputs per parser (default 10,000)")
    parser.add_argument("--seed", type=int, default=None, help="campaign seed (default: random, printed)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated: {', '.join(TARGETS)}")
    parser.add_argument("--only", type=int, default=None, help="replay this one input index")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz", help="where failing inputs go")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    start, count = (args.only, 1) if args.only is not None else (0, args.count)
    print(f"fuzz: seed {seed}, {count} input(s) per parser, failing inputs go to {args.out}", flush=True)
    total_failures = 0
    for name in names:
        began = time.monotonic()
        tally = run_worker(name, count, seed, start, args.out)
        failures = tally["failures"]
        assert isinstance(failures, list)
        total_failures += len(failures)
        rejected = tally["rejected"]
        assert isinstance(rejected, dict)
        print(f"  {name:<12} {tally['inputs']:>6} inputs: {tally['accepted']:>5} accepted, "
              f"{sum(rejected.values()):>6} rejected {dict(sorted(rejected.items()))}, "
              f"{len(failures)} failed; slowest {tally.get('slowest_s', 0)} s, "
              f"peak +{int(tally.get('peak_bytes', 0)) >> 20} MiB, {time.monotonic() - began:.0f} s", flush=True)
        for f in failures[:20]:
            print(f"      #{f['index']} [{f['kind']}] {f['label']}: {f['detail']}")
            if f["index"] >= 0:
                print(f"        replay: python -m tests.fuzz --targets {name} --seed {seed} --only {f['index']}")
    print(f"fuzz: {'no failures' if not total_failures else f'{total_failures} FAILURE(S)'} (seed {seed})")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
