"""``python -m tests.faults``: every fault scenario at least ``--runs`` times (``make fuzz``), with counts."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.driver import SCENARIOS, campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="fault hits per scenario (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print where every fault landed")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    print(f"faults: seed {seed}, {args.runs} hit(s) per scenario", flush=True)
    failed = 0
    for name in names:
        began = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as tmp:
            tally = campaign(name, args.runs, seed, Path(tmp))
        if tally.skipped:
            print(f"  {name:<10} skipped: {tally.skipped}", flush=True)
            continue
        short = tally.hits < args.runs
        failed += len(tally.failures) + short
        print(f"  {name:<10} {tally.hits} run(s) stopped by the fault, {tally.late} finished first, "
              f"{len(tally.failures)} failed; {time.monotonic() - began:.0f} s"
              + (f"  (FEWER THAN {args.runs} HITS)" if short else ""), flush=True)
        for point in tally.points if args.verbose else ():
            print(f"      {point}")
        for failure in tally.failures:
            print("      FAILED " + failure.replace("\n", "\n      "))
    print(f"faults: {'all invariants held' if not failed else f'{failed} FAILURE(S)'} (seed {seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
