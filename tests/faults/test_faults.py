"""The fast slice of the fault runs (``make test``); ``make fuzz`` runs each scenario 20 times.

Each run checks: no file under a final name (after a SIGKILL: once the next start cleaned up), no
``.partial`` or ledger left, and the source byte-identical.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.convert.cleanup import ledger_path, partial_path, remove_stale_partials
from tests.faults import fullfs, kill
from tests.faults.driver import campaign

SEED = int(os.environ.get("FAULT_SEED", "20261123"))
RUNS = {"cancel": 4, "enospc": 6, "full-disk": 3, "sigkill": 2}


@pytest.mark.parametrize("scenario", sorted(RUNS))
def test_faults_leave_nothing_behind(scenario: str, tmp_path: Path) -> None:
    if scenario == "full-disk":
        reason = fullfs.why_no_tmpfs()
        if reason:
            pytest.skip(reason)
    tally = campaign(scenario, RUNS[scenario], SEED, tmp_path, quick=True)
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.hits == RUNS[scenario], tally.points


def test_a_running_conversion_keeps_its_partial_until_killed(tmp_path: Path) -> None:
    """Clean-up at startup never touches the output of a conversion that is still running elsewhere."""
    src = kill.build_big_source(tmp_path / "big.gguf")
    out = tmp_path / "out" / "model.gguf"
    out.parent.mkdir()
    cmd = [sys.executable, "-m", "engine.cli", "convert", str(src), "-t", "Q4_K_M", "-o", str(out)]
    proc = subprocess.Popen(cmd, cwd=kill.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not partial_path(out).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert partial_path(out).exists(), "the conversion never started writing"
        assert remove_stale_partials([out.parent]) == ()
        assert partial_path(out).exists() and ledger_path(out).exists()
    finally:
        proc.kill()
        proc.wait()
    if proc.returncode == 0:
        pytest.skip("the conversion finished before it could be killed")
    nxt = subprocess.run([*cmd, "--dry-run"], cwd=kill.ROOT, capture_output=True, text=True)
    assert nxt.returncode == 0, nxt.stderr
    assert "left by a conversion that did not finish" in nxt.stderr
    assert sorted(out.parent.iterdir()) == []
