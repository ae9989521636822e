"""Host probes: CPU name, cores and SIMD features, system RAM, free disk.

Every function returns a best guess plus nothing else; anything unreadable becomes a default and a note,
never an exception, because a missing /proc file must not stop a recommendation.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from engine.hardware.profile import GIB, CpuInfo

CPUINFO = Path("/proc/cpuinfo")

# /proc/cpuinfo flag -> the name we report. Only features that change which llama.cpp kernels run.
X86_FLAGS: dict[str, str] = {
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512_vnni": "avx512vnni",
    "avx512_bf16": "avx512bf16",
    "avx_vnni": "avxvnni",
    "amx_int8": "amx_int8",
}
ARM_FLAGS: dict[str, str] = {
    "asimd": "neon",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
    "sve": "sve",
    "sve2": "sve2",
    "fphp": "fp16",
    "bf16": "bf16",
}
# Windows IsProcessorFeaturePresent codes (winnt.h PF_*).
WINDOWS_FEATURES: dict[int, str] = {39: "avx", 40: "avx2", 41: "avx512f", 19: "neon", 43: "dotprod"}

# Peak bandwidth assumed for system RAM when nothing better is known: dual-channel DDR4-3200.
DEFAULT_RAM_BANDWIDTH = 51.2e9


@dataclass(frozen=True, slots=True)
class RamInfo:
    """System memory now: installed and available to a new process."""

    total_bytes: int
    available_bytes: int


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    """CPU model name and the normalised feature names found in /proc/cpuinfo text."""
    name = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not name:
            name = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    table = {**X86_FLAGS, **ARM_FLAGS}
    features = sorted({table[f] for f in flags if f in table})
    return name, tuple(features)


def sysctl(key: str) -> str | None:
    """One macOS/BSD sysctl value, or None."""
    try:
        out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value else None


def _windows_features() -> tuple[str, ...]:
    """SIMD features via kernel32.IsProcessorFeaturePresent (Windows only)."""
    try:
        check = ctypes.windll.kernel32.IsProcessorFeaturePresent  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return ()
    return tuple(sorted(name for code, name in WINDOWS_FEATURES.items() if check(code)))


def probe_cpu(notes: list[str]) -> CpuInfo:
    """Name, core counts and SIMD features of this CPU."""
    arch = platform.machine().lower() or "unknown"
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    name, features = "", ()
    try:
        if CPUINFO.exists():
            name, features = parse_cpuinfo(CPUINFO.read_text(errors="replace"))
        elif platform.system() == "Darwin":
            name = sysctl("machdep.cpu.brand_string") or ""
            features = ("neon",) if arch == "aarch64" else ()
        elif platform.system() == "Windows":
            features = _windows_features()
    except OSError as e:
        notes.append(f"Could not read CPU details ({e}).")
    if arch == "aarch64" and "neon" not in features:
        features = tuple(sorted({*features, "neon"}))  # NEON is mandatory on AArch64
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    return CpuInfo(
        name=name or platform.processor() or arch,
        physical_cores=int(physical),
        logical_cores=int(logical),
        features=features,
        arch=arch,
    )


def probe_ram(notes: list[str]) -> RamInfo:
    """Installed and available RAM; 8 GiB/4 GiB guesses with a note if psutil cannot tell."""
    try:
        vm = psutil.virtual_memory()
        return RamInfo(total_bytes=int(vm.total), available_bytes=int(vm.available))
    except (OSError, RuntimeError, AttributeError) as e:
        notes.append(f"Could not read system memory ({e}); assuming 8 GiB.")
        return RamInfo(total_bytes=8 * GIB, available_bytes=4 * GIB)


def probe_disk(path: str | os.PathLike[str], notes: list[str]) -> int | None:
    """Free bytes on the filesystem holding ``path`` (its nearest existing parent), or None."""
    target = Path(path).expanduser()
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        return int(shutil.disk_usage(target).free)
    except OSError as e:
        notes.append(f"Could not read free disk space at {path} ({e}).")
        return None
