"""Probe this machine into a HardwareProfile; no probe failure ever escapes.

GPU probes run in the order llama.cpp's backends would claim devices: NVIDIA (CUDA), then AMD/Intel via sysfs,
then Apple Metal. Each one returns devices or an empty list and appends plain-English notes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.hardware.apple import probe_apple
from engine.hardware.cpu_ram import DEFAULT_RAM_BANDWIDTH, probe_cpu, probe_disk, probe_ram
from engine.hardware.nvidia import probe_nvidia
from engine.hardware.profile import GpuDevice, HardwareProfile
from engine.hardware.sysfs_gpu import probe_sysfs_gpus

GpuProbe = Callable[[list[str]], list[GpuDevice]]
DEFAULT_GPU_PROBES: tuple[GpuProbe, ...] = (probe_nvidia, probe_sysfs_gpus, probe_apple)


def _safe(probe: GpuProbe, notes: list[str]) -> list[GpuDevice]:
    """Run one GPU probe; an unexpected exception becomes a note (probes are meant not to raise at all)."""
    try:
        return probe(notes)
    except Exception as e:  # noqa: BLE001 - a broken probe must not cost the user the other devices
        notes.append(f"A GPU check failed unexpectedly ({type(e).__name__}: {e}); continuing without it.")
        return []


def detect(
    *,
    disk_path: str | os.PathLike[str] | None = None,
    gpu_probes: Sequence[GpuProbe] = DEFAULT_GPU_PROBES,
) -> HardwareProfile:
    """Describe this machine.

    Args:
        disk_path: where models would be written; its free space is reported. None means the home folder.
        gpu_probes: GPU probe functions (tests replace them with fakes).

    Returns:
        A profile named "detected". Anything a probe could not learn is listed in ``notes``.
    """
    notes: list[str] = []
    cpu = probe_cpu(notes)
    ram = probe_ram(notes)
    gpus: list[GpuDevice] = []
    for probe in gpu_probes:
        gpus.extend(_safe(probe, notes))
    unified_bw = [g.bandwidth_bytes_s for g in gpus if g.unified and g.bandwidth_bytes_s]
    if unified_bw:
        ram_bandwidth = float(unified_bw[0])  # the CPU reads the same memory the GPU does
    else:
        ram_bandwidth = DEFAULT_RAM_BANDWIDTH
        notes.append(
            "System RAM bandwidth is not measured; assuming 51.2 GB/s (dual-channel DDR4-3200). "
            "Edit ram_bandwidth_bytes_s in a saved profile to correct CPU speed estimates."
        )
    if not gpus:
        notes.append("No GPU found: models would run on the CPU.")
    path = Path(disk_path) if disk_path is not None else Path.home()
    return HardwareProfile(
        name="detected",
        cpu=cpu,
        ram_total_bytes=ram.total_bytes,
        ram_available_bytes=ram.available_bytes,
        ram_bandwidth_bytes_s=ram_bandwidth,
        gpus=tuple(gpus),
        disk_free_bytes=probe_disk(path, notes),
        disk_path=str(path),
        notes=tuple(notes),
    )
