"""The fast slice of the fuzz campaign (``make test``); ``make fuzz`` runs 10,000 inputs per parser.

The seed is fixed so a failure here replays exactly (``python -m tests.fuzz --targets T --seed S --only I``);
set FUZZ_SEED to explore other inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.harness import campaign
from tests.fuzz.targets import TARGETS

SEED = int(os.environ.get("FUZZ_SEED", "20261123"))
FAST_COUNT = int(os.environ.get("FUZZ_FAST_COUNT", "300"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzzed_inputs_end_in_our_errors(name: str, tmp_path: Path) -> None:
    tally = campaign(TARGETS[name], FAST_COUNT, SEED, tmp_path)
    assert tally.inputs == FAST_COUNT
    assert tally.accepted + sum(tally.rejected.values()) > 0
    report = "\n".join(
        f"#{f.index} [{f.kind}] {f.label}: {f.detail}\n"
        f"  replay: python -m tests.fuzz --targets {name} --seed {SEED} --only {f.index}"
        for f in tally.failures
    )
    assert not tally.failures, f"{len(tally.failures)} of {tally.inputs} inputs failed:\n{report}"
