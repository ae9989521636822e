"""One fuzz worker: run a range of inputs of one target and print the tally as one JSON line."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tests.fuzz.harness import Failure, campaign
from tests.fuzz.targets import TARGETS


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, choices=sorted(TARGETS))
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    def keep(failure: Failure, folder: Path) -> None:
        dest = args.out / failure.target / f"{args.seed}-{failure.index}"
        shutil.copytree(folder, dest, dirs_exist_ok=True)
        (dest / "FAILURE.txt").write_text(
            f"[{failure.kind}] {failure.detail}\nreplay: python -m tests.fuzz --targets {failure.target} "
            f"--seed {args.seed} --only {failure.index}\n"
        )

    tally = campaign(TARGETS[args.target], args.count, args.seed, args.work, start=args.start, keep=keep)
    shutil.rmtree(args.work, ignore_errors=True)
    print(json.dumps(tally.as_dict()), flush=True)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
