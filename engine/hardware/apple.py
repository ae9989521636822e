"""Apple Silicon: one Metal GPU sharing system RAM.

Metal lets a process keep ``recommendedMaxWorkingSetSize`` bytes resident; macOS sets that to about two thirds
of RAM up to 36 GB and three quarters above, unless the user raised it with ``sysctl iogpu.wired_limit_mb``.
We cannot call Metal from Python without extra packages, so we rebuild the number from those rules.
"""

from __future__ import annotations

import platform
from collections.abc import Callable

from engine.hardware.cpu_ram import sysctl as _sysctl
from engine.hardware.gpu_table import bandwidth_for
from engine.hardware.profile import GpuDevice

LARGE_RAM = 36 * 1024**3


def working_set_bytes(ram_total: int, wired_limit_mb: int | None) -> int:
    """The GPU working-set limit macOS grants for ``ram_total`` bytes of RAM."""
    if wired_limit_mb:
        return min(int(wired_limit_mb) * 1024**2, ram_total)
    share = 3 / 4 if ram_total > LARGE_RAM else 2 / 3
    return int(ram_total * share)


def probe_apple(
    notes: list[str],
    *,
    system: str | None = None,
    machine: str | None = None,
    sysctl: Callable[[str], str | None] = _sysctl,
) -> list[GpuDevice]:
    """The Apple GPU on an arm64 Mac, else an empty list. ``system``/``machine``/``sysctl`` are test seams."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    if system != "Darwin" or machine not in ("arm64", "aarch64"):
        return []
    mem = sysctl("hw.memsize")
    if mem is None or not mem.isdigit():
        notes.append("Apple: could not read the memory size (sysctl hw.memsize).")
        return []
    ram_total = int(mem)
    wired = sysctl("iogpu.wired_limit_mb")
    limit = working_set_bytes(ram_total, int(wired) if wired and wired.isdigit() else None)
    name = sysctl("machdep.cpu.brand_string") or "Apple Silicon"
    bandwidth = bandwidth_for(name)
    if bandwidth is None:
        notes.append(f"{name}: memory bandwidth unknown; speed estimates are rough.")
    return [
        GpuDevice(
            name=name,
            backend="metal",
            total_bytes=limit,
            free_bytes=limit,
            bandwidth_bytes_s=bandwidth,
            unified=True,
        )
    ]
