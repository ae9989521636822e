"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py).

No driver, no library or any NVML error means "no NVIDIA GPU" plus a note, never an exception. NVML reports
memory before our process creates a CUDA context, so the recommender keeps a per-device reservation for that.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from engine.hardware.gpu_table import bandwidth_for
from engine.hardware.profile import GpuDevice


def _load_nvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _optional(call: Any, *args: Any) -> Any:
    """Result of an NVML call some GPUs or drivers do not support, or None."""
    try:
        return call(*args)
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends; one value missing is fine
        return None


def visible_indices(count: int, env: str | None) -> list[int]:
    """NVML indices CUDA would use, honouring a numeric CUDA_VISIBLE_DEVICES (UUID lists keep all)."""
    if env is None or env.strip() == "":
        return list(range(count)) if env is None else []
    picked: list[int] = []
    for part in env.split(","):
        part = part.strip()
        if not part.lstrip("-").isdigit():
            return list(range(count))
        idx = int(part)
        if idx < 0 or idx >= count:
            break  # CUDA stops at the first invalid entry
        picked.append(idx)
    return picked


def _device(nvml: Any, handle: Any, driver: str | None) -> GpuDevice:
    """One GpuDevice from an NVML handle."""
    name = _text(nvml.nvmlDeviceGetName(handle))
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    cc = _optional(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    bus_fn = getattr(nvml, "nvmlDeviceGetMemoryBusWidth", None)  # absent from old nvidia-ml-py releases
    bus_bits = _optional(bus_fn, handle) if bus_fn is not None else None
    mem_mhz = _optional(nvml.nvmlDeviceGetMaxClockInfo, handle, getattr(nvml, "NVML_CLOCK_MEM", 2))
    bandwidth = None
    if bus_bits and mem_mhz:
        bandwidth = float(mem_mhz) * 1e6 * 2 * float(bus_bits) / 8  # double data rate
    return GpuDevice(
        name=name,
        backend="cuda",
        total_bytes=int(mem.total),
        free_bytes=int(mem.free),
        bandwidth_bytes_s=bandwidth or bandwidth_for(name),
        compute_capability=None if not cc else f"{cc[0]}.{cc[1]}",
        driver=driver,
    )


def probe_nvidia(notes: list[str], nvml: Any | None = None) -> list[GpuDevice]:
    """Every NVIDIA GPU CUDA would see; an empty list (and a note) when NVML is unavailable.

    Args:
        notes: receives one plain sentence per problem.
        nvml: the NVML module; tests pass a fake, None loads ``pynvml``.
    """
    nvml = nvml if nvml is not None else _load_nvml()
    if nvml is None:
        notes.append("NVIDIA: the nvidia-ml-py package is not installed, so NVIDIA GPUs were not checked.")
        return []
    try:
        nvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound / DriverNotLoaded: no NVIDIA GPU here
        notes.append("NVIDIA: no driver found (NVML could not start).")
        return []
    try:
        driver_raw = _optional(nvml.nvmlSystemGetDriverVersion)
        driver = None if driver_raw is None else _text(driver_raw)
        count = int(nvml.nvmlDeviceGetCount())
        indices = visible_indices(count, os.environ.get("CUDA_VISIBLE_DEVICES"))
        return [_device(nvml, nvml.nvmlDeviceGetHandleByIndex(i), driver) for i in indices]
    except Exception as e:  # noqa: BLE001 - a driver fault must not stop the recommendation
        notes.append(f"NVIDIA: reading GPU details failed ({e}).")
        return []
    finally:
        _optional(nvml.nvmlShutdown)
