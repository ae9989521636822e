"""The array-module seam's host-side shim: glibc keeps freed numpy temporaries for reuse."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from engine.quant import xp as xp_mod

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs Linux with glibc"
)

_MEASURE = """
import resource, numpy as np
from engine.quant.xp import keep_freed_host_memory
assert keep_freed_host_memory()
def churn():
    for _ in range(20):
        a = np.ones(1 << 20, np.float32)  # 4 MiB temporaries, made and dropped like a kernel's
        b = a * 2
        del a, b
churn()  # the first round may grow the heap
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@glibc_only
def test_freed_temporaries_are_reused_without_page_faults() -> None:
    """Each 4 MiB temporary would fault in 1024 fresh pages if glibc returned it to the OS on free."""
    repo = Path(__file__).resolve().parents[4]
    out = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, check=True, cwd=repo)
    assert int(out.stdout) < 200  # 40 temporaries: about 40,000 faults without the setting


@glibc_only
def test_tuning_happens_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xp_mod, "_allocator_tuned", False)
    assert xp_mod.keep_freed_host_memory()
    monkeypatch.setattr(xp_mod.ctypes, "CDLL", lambda *a: pytest.fail("mallopt called twice"))
    assert xp_mod.keep_freed_host_memory()


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xp_mod, "_allocator_tuned", False)
    monkeypatch.setattr(xp_mod.sys, "platform", "darwin")
    monkeypatch.setattr(xp_mod.ctypes, "CDLL", lambda *a: pytest.fail("libc touched"))
    assert not xp_mod.keep_freed_host_memory()


def test_a_libc_without_mallopt_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xp_mod, "_allocator_tuned", False)
    monkeypatch.setattr(xp_mod.sys, "platform", "linux")
    monkeypatch.setattr(xp_mod.ctypes, "CDLL", lambda *a: object())  # musl-like: no mallopt symbol
    assert not xp_mod.keep_freed_host_memory()
