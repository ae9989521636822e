"""Hardware profiles as the words the panel, the menu and the editor show; no Qt.

Also the reverse for the custom-hardware editor: text fields back into GpuDevice / HardwareProfile,
with plain-English errors for anything that is not a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.widgets.units import GIB, fmt_bandwidth, fmt_bytes
from engine.errors import UsageError
from engine.hardware import GpuDevice, HardwareProfile

DETECTED = "detected"
BACKENDS = ("cuda", "rocm", "metal", "vulkan", "sycl")
SIMD_SHOWN = {"avx512f": "AVX-512", "avx2": "AVX2", "neon": "NEON"}  # the best one the CPU has is named


@dataclass(frozen=True, slots=True)
class GpuLine:
    """One GPU row of the panel."""

    title: str
    memory: str
    bandwidth: str
    tooltip: str
    used_fraction: float


def profile_title(profile: HardwareProfile) -> str:
    """"This computer" for a probed machine, else says the numbers are simulated."""
    return "This computer" if profile.name == DETECTED else f"Simulated: {profile.name}"


def gpu_lines(profile: HardwareProfile) -> list[GpuLine]:
    lines = []
    for i, gpu in enumerate(profile.gpus):
        used = gpu.total_bytes - gpu.free_bytes
        extra = [f"backend {gpu.backend}"]
        if gpu.compute_capability:
            extra.append(f"compute {gpu.compute_capability}")
        if gpu.driver:
            extra.append(f"driver {gpu.driver}")
        if gpu.unified:
            extra.append("shares system memory")
        lines.append(GpuLine(
            title=f"GPU {i}: {gpu.name}",
            memory=f"{fmt_bytes(gpu.free_bytes)} free of {fmt_bytes(gpu.total_bytes)}",
            bandwidth=fmt_bandwidth(gpu.bandwidth_bytes_s),
            tooltip=", ".join(extra) + f"; {fmt_bytes(used)} already in use.",
            used_fraction=used / gpu.total_bytes if gpu.total_bytes else 0.0,
        ))
    return lines


def ram_text(profile: HardwareProfile) -> str:
    return (f"{fmt_bytes(profile.ram_available_bytes)} available of {fmt_bytes(profile.ram_total_bytes)}, "
            f"{fmt_bandwidth(profile.ram_bandwidth_bytes_s)}")


def cpu_text(profile: HardwareProfile) -> str:
    cpu = profile.cpu
    simd = next((label for feature, label in SIMD_SHOWN.items() if cpu.has(feature)), None)
    cores = f"{cpu.physical_cores} cores / {cpu.logical_cores} threads"
    return f"{cpu.name}, {cores}" + (f", {simd}" if simd else "")


def disk_text(profile: HardwareProfile) -> str:
    if profile.disk_free_bytes is None:
        return "not checked" if profile.name != DETECTED else "unknown"
    where = f" in {profile.disk_path}" if profile.disk_path else ""
    return f"{fmt_bytes(profile.disk_free_bytes)} free{where}"


def preset_label(profile: HardwareProfile) -> str:
    """Menu text for a preset: the GPUs (or "CPU only") and the RAM, e.g. "RTX 3060 (12 GiB), 32 GiB RAM"."""
    if profile.gpus:
        names: dict[str, int] = {}
        for g in profile.gpus:
            key = f"{g.name.replace('NVIDIA GeForce ', '').replace('NVIDIA ', '')} ({g.total_bytes / GIB:.0f} GiB)"
            names[key] = names.get(key, 0) + 1
        gpus = " + ".join(f"{n}x {k}" if n > 1 else k for k, n in names.items())
    else:
        gpus = f"CPU only ({profile.cpu.name})"
    return f"{gpus}, {profile.ram_total_bytes / GIB:.0f} GiB RAM"


def _number(text: str, what: str, *, minimum: float = 0.0) -> float:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise UsageError(f"{what} must be a number, not {text!r}.", "Type a plain number such as 12 or 11.5.") from None
    if value < minimum:
        raise UsageError(f"{what} cannot be below {minimum:g}.")
    return value


def gpu_from_fields(fields: Sequence[str], *, unified: bool, base: GpuDevice | None = None) -> GpuDevice:
    """A GPU from the editor's cells: name, backend, total GiB, free GiB, bandwidth GB/s (blank = unknown).

    Raises:
        UsageError: a cell is not a number, free exceeds total, or the backend is unknown.
    """
    name, backend, total_s, free_s, bw_s = (f.strip() for f in fields)
    if not name:
        raise UsageError("Every GPU needs a name.")
    if backend not in BACKENDS:
        raise UsageError(f"{backend!r} is not a GPU backend.", "Use one of: " + ", ".join(BACKENDS) + ".")
    total = _number(total_s, f"Total memory of {name}", minimum=0.1)
    free = _number(free_s, f"Free memory of {name}")
    if free > total:
        raise UsageError(f"{name} cannot have more free memory ({free:g} GiB) than it has ({total:g} GiB).")
    bandwidth = _number(bw_s, f"Bandwidth of {name}", minimum=1) * 1e9 if bw_s else None
    template = base if base is not None else GpuDevice(name=name, backend=backend, total_bytes=0, free_bytes=0)
    return replace(template, name=name, backend=backend, total_bytes=int(total * GIB), free_bytes=int(free * GIB),
                   bandwidth_bytes_s=bandwidth, unified=unified)


def gpu_fields(gpu: GpuDevice) -> list[str]:
    """The editor's cells for ``gpu`` (inverse of ``gpu_from_fields``)."""
    bw = f"{gpu.bandwidth_bytes_s / 1e9:g}" if gpu.bandwidth_bytes_s else ""
    return [gpu.name, gpu.backend, f"{gpu.total_bytes / GIB:.2f}", f"{gpu.free_bytes / GIB:.2f}", bw]


def edited_profile(base: HardwareProfile, *, name: str, ram_total_gib: float, ram_available_gib: float,
                   ram_bandwidth_gbs: float, cores: int, gpus: Sequence[GpuDevice]) -> HardwareProfile:
    """``base`` with the editor's values; the name says it is custom so nobody mistakes it for a probe.

    Raises:
        UsageError: available RAM above total, or a non-positive value.
    """
    if ram_total_gib <= 0 or ram_bandwidth_gbs <= 0 or cores < 1:
        raise UsageError("RAM, RAM bandwidth and CPU cores must be positive.")
    if ram_available_gib > ram_total_gib:
        raise UsageError("Available RAM cannot be more than the RAM installed.")
    label = name.strip() or "custom"
    if label == DETECTED:
        label = "custom"
    cpu = replace(base.cpu, physical_cores=cores, logical_cores=max(cores, base.cpu.logical_cores))
    return replace(base, name=label, cpu=cpu, ram_total_bytes=int(ram_total_gib * GIB),
                   ram_available_bytes=int(ram_available_gib * GIB), ram_bandwidth_bytes_s=ram_bandwidth_gbs * 1e9,
                   gpus=tuple(gpus), notes=())
