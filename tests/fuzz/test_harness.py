"""The harness itself catches what it is there to catch: other exceptions, hangs, memory bombs, bad messages."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import CorruptInputError, QuantpickError
from tests.fuzz import harness
from tests.fuzz.mutate import Sample
from tests.fuzz.targets import Case


def outcome(run, tmp_path: Path) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    result = harness.run_one(Case({"f": Sample.of(b"x")}, run, "test"), tmp_path)
    return result[0], result[1]


def test_other_exceptions_escape(tmp_path: Path) -> None:
    def run(folder: Path) -> None:
        {}["missing"]
    assert outcome(run, tmp_path)[0] == "escaped"


def test_hangs_are_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "TIME_LIMIT_S", 0.2)

    def run(folder: Path) -> None:
        while True:
            time.sleep(0.01)
    started = time.monotonic()
    assert outcome(run, tmp_path)[0] == "hang"
    assert time.monotonic() - started < 2


def test_allocations_past_the_ceiling_fail(tmp_path: Path) -> None:
    def run(folder: Path) -> None:
        np.ones(harness.MEMORY_LIMIT + (64 << 20), np.uint8)
    assert outcome(run, tmp_path)[0] == "memory"
    np.ones(harness.MEMORY_LIMIT + (64 << 20), np.uint8)  # the ceiling is lifted afterwards


def raw_error(message: str, cls: type[QuantpickError] = CorruptInputError) -> QuantpickError:
    """An error whose message bypasses the tidying QuantpickError does (as a careless subclass might)."""
    error = cls("placeholder message.")
    error.message = message
    return error


@pytest.mark.parametrize("error,problem", [
    (raw_error("x" * 2000 + "."), "characters"),
    (raw_error("The file is damaged\nbadly."), "lines"),
    (CorruptInputError("Bad."), "short"),
    (QuantpickError("Something went wrong somewhere."), "base class"),
])
def test_unclear_messages_fail(tmp_path: Path, error: QuantpickError, problem: str) -> None:
    def run(folder: Path) -> None:
        raise error
    kind, detail = outcome(run, tmp_path)
    assert kind == "message" and problem in detail


def test_clear_errors_and_success_pass(tmp_path: Path) -> None:
    def reject(folder: Path) -> None:
        raise CorruptInputError("f is not a valid GGUF file: it is too short.")
    assert outcome(reject, tmp_path)[0] == "CorruptInputError"
    assert outcome(lambda folder: (folder / "f").read_bytes(), tmp_path)[0] == "accepted"


def test_sparse_samples_write_zeros_past_the_head(tmp_path: Path) -> None:
    Sample(b"abc", 10).write(tmp_path / "s")
    Sample(b"abcdef", 2).write(tmp_path / "t")
    assert (tmp_path / "s").read_bytes() == b"abc" + bytes(7)
    assert (tmp_path / "t").read_bytes() == b"ab"
