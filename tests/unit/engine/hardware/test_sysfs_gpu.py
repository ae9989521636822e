"""AMD/Intel sysfs probe over a fake /sys/class/drm tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.hardware.sysfs_gpu import probe_sysfs_gpus

GIB = 1024**3


def _card(root: Path, name: str, files: dict[str, str]) -> None:
    dev = root / name / "device"
    dev.mkdir(parents=True)
    for rel, text in files.items():
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def test_amd_intel_and_connectors(tmp_path: Path) -> None:
    _card(
        tmp_path,
        "card1",
        {
            "device/vendor": "0x1002",
            "device/product_name": "AMD Radeon RX 7900 XTX",
            "device/mem_info_vram_total": str(24 * GIB),
            "device/mem_info_vram_used": str(1 * GIB),
        },
    )
    _card(tmp_path, "card0", {"device/vendor": "0x10de"})  # NVIDIA: left to NVML
    _card(tmp_path, "card2", {"device/vendor": "0x8086", "lmem_total_bytes": str(16 * GIB), "lmem_avail_bytes": "0"})
    (tmp_path / "card1-DP-1").mkdir()
    notes: list[str] = []
    gpus = probe_sysfs_gpus(notes, root=tmp_path)
    assert [g.backend for g in gpus] == ["rocm", "sycl"]
    amd, intel = gpus
    assert amd.free_bytes == 23 * GIB and amd.bandwidth_bytes_s == pytest.approx(960e9) and not amd.unified
    assert intel.total_bytes == 16 * GIB and intel.free_bytes == 0
    assert any("bandwidth unknown" in n for n in notes)


def test_apu_carveout_counts_as_unified(tmp_path: Path) -> None:
    _card(
        tmp_path,
        "card0",
        {"device/vendor": "0x1002", "device/mem_info_vram_total": str(512 * 1024**2), "device/mem_info_vram_used": "0"},
    )
    notes: list[str] = []
    (gpu,) = probe_sysfs_gpus(notes, root=tmp_path)
    assert gpu.unified and any("integrated" in n for n in notes)


def test_missing_root_is_no_gpu(tmp_path: Path) -> None:
    assert probe_sysfs_gpus([], root=tmp_path / "absent") == []


def test_garbage_values_are_skipped(tmp_path: Path) -> None:
    _card(tmp_path, "card0", {"device/vendor": "0x1002", "device/mem_info_vram_total": "lots"})
    assert probe_sysfs_gpus([], root=tmp_path) == []
