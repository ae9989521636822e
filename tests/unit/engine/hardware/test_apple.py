"""Apple Silicon probe with a fake sysctl."""

from __future__ import annotations

import pytest

from engine.hardware.apple import probe_apple, working_set_bytes

GIB = 1024**3


def _sysctl(values: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda key: values.get(key)


def test_m2_max_32gb() -> None:
    values = {"hw.memsize": str(32 * GIB), "machdep.cpu.brand_string": "Apple M2 Max"}
    (gpu,) = probe_apple([], system="Darwin", machine="arm64", sysctl=_sysctl(values))
    assert gpu.unified and gpu.backend == "metal"
    assert gpu.total_bytes == int(32 * GIB * 2 / 3)
    assert gpu.bandwidth_bytes_s == pytest.approx(400e9)


def test_working_set_rules() -> None:
    assert working_set_bytes(64 * GIB, None) == 48 * GIB
    assert working_set_bytes(64 * GIB, 60 * 1024) == 60 * GIB
    assert working_set_bytes(16 * GIB, 99 * 1024) == 16 * GIB


def test_not_a_mac() -> None:
    assert probe_apple([], system="Linux", machine="x86_64") == []
    assert probe_apple([], system="Darwin", machine="x86_64") == []


def test_unreadable_memsize_is_a_note() -> None:
    notes: list[str] = []
    assert probe_apple(notes, system="Darwin", machine="arm64", sysctl=_sysctl({})) == []
    assert "hw.memsize" in notes[0]
