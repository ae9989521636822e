"""detect(): probes combined, failures turned into notes."""

from __future__ import annotations

from pathlib import Path

from engine.hardware import HardwareProfile, detect
from engine.hardware.profile import GpuDevice

GIB = 1024**3


def _broken(notes: list[str]) -> list[GpuDevice]:
    raise RuntimeError("driver exploded")


def _one_gpu(notes: list[str]) -> list[GpuDevice]:
    return [GpuDevice(name="Fake", backend="cuda", total_bytes=8 * GIB, free_bytes=7 * GIB, bandwidth_bytes_s=4e11)]


def _unified(notes: list[str]) -> list[GpuDevice]:
    return [GpuDevice("Apple M2", "metal", 10 * GIB, 10 * GIB, bandwidth_bytes_s=1e11, unified=True)]


def test_broken_probe_becomes_note_and_others_still_count(tmp_path: Path) -> None:
    profile = detect(disk_path=tmp_path, gpu_probes=(_broken, _one_gpu))
    assert [g.name for g in profile.gpus] == ["Fake"]
    assert any("driver exploded" in n for n in profile.notes)
    assert profile.disk_path == str(tmp_path) and profile.disk_free_bytes
    assert HardwareProfile.from_json(profile.to_json()) == profile


def test_no_gpu_is_noted() -> None:
    profile = detect(gpu_probes=())
    assert profile.gpus == () and any("No GPU" in n for n in profile.notes)


def test_unified_memory_sets_ram_bandwidth() -> None:
    assert detect(gpu_probes=(_unified,)).ram_bandwidth_bytes_s == 1e11
