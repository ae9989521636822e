"""AMD and Intel GPUs on Linux through the DRM sysfs files the kernel drivers export.

amdgpu writes ``mem_info_vram_total`` / ``mem_info_vram_used`` (bytes) under ``/sys/class/drm/cardN/device``;
Intel's i915/xe discrete cards write ``lmem_total_bytes`` / ``lmem_avail_bytes``. No readable file means no GPU
of that kind; nothing here raises.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.hardware.gpu_table import bandwidth_for
from engine.hardware.profile import GpuDevice

DRM_ROOT = Path("/sys/class/drm")
AMD_VENDOR = "0x1002"
INTEL_VENDOR = "0x8086"
# amdgpu APUs report a small BIOS carve-out as "VRAM"; below this they really share system RAM.
APU_CARVEOUT_LIMIT = 2 * 1024**3


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _cards(root: Path) -> list[Path]:
    """``cardN`` entries (not connectors such as card0-DP-1), in numeric order."""
    try:
        entries = [p for p in root.iterdir() if re.fullmatch(r"card\d+", p.name)]
    except OSError:
        return []
    return sorted(entries, key=lambda p: int(p.name[4:]))


def _amd_device(dev: Path) -> GpuDevice | None:
    total = _read_int(dev / "mem_info_vram_total")
    used = _read_int(dev / "mem_info_vram_used")
    if not total or used is None:
        return None
    name = _read(dev / "product_name") or f"AMD GPU {_read(dev / 'device') or ''}".strip()
    return GpuDevice(
        name=name,
        backend="rocm",
        total_bytes=total,
        free_bytes=max(total - used, 0),
        bandwidth_bytes_s=bandwidth_for(name),
        unified=total < APU_CARVEOUT_LIMIT,
    )


def _intel_device(card: Path) -> GpuDevice | None:
    for base in (card, card / "device"):
        total = _read_int(base / "lmem_total_bytes")
        avail = _read_int(base / "lmem_avail_bytes")
        if total:
            name = _read(card / "device" / "product_name") or f"Intel GPU {_read(card / 'device' / 'device') or ''}"
            return GpuDevice(
                name=name.strip(),
                backend="sycl",
                total_bytes=total,
                free_bytes=avail if avail is not None else total,
                bandwidth_bytes_s=bandwidth_for(name),
            )
    return None


def probe_sysfs_gpus(notes: list[str], root: Path = DRM_ROOT) -> list[GpuDevice]:
    """AMD and Intel discrete GPUs found under ``root`` (empty off Linux or without such cards)."""
    found: list[GpuDevice] = []
    for card in _cards(root):
        vendor = _read(card / "device" / "vendor")
        device = None
        if vendor == AMD_VENDOR:
            device = _amd_device(card / "device")
        elif vendor == INTEL_VENDOR:
            device = _intel_device(card)
        if device is None:
            continue
        if device.bandwidth_bytes_s is None:
            notes.append(f"{device.name}: memory bandwidth unknown; speed estimates for it are rough.")
        if device.unified:
            notes.append(f"{device.name}: integrated GPU sharing system RAM; counted as unified memory.")
        found.append(device)
    return found
