"""Named machines for "what if" questions and for tests that must not need a GPU.

Totals are what the drivers report for those cards (nvidia-smi MiB figures); "free" assumes an idle desktop
driving a display (a few hundred MiB in use on the first GPU). Available RAM assumes a desktop session with a
browser open. Bandwidths are the vendors' peak numbers.
"""

from __future__ import annotations

from engine.errors import UsageError
from engine.hardware.gpu_table import bandwidth_for
from engine.hardware.profile import GIB, MIB, CpuInfo, GpuDevice, HardwareProfile

X86_AVX2 = ("avx", "avx2", "f16c", "fma")
X86_AVX512 = (*X86_AVX2, "avx512bw", "avx512f", "avx512vnni")
ARM_APPLE = ("dotprod", "fp16", "i8mm", "neon")
DESKTOP_USE = 350 * MIB  # VRAM an idle desktop keeps on the GPU driving the display


def _nvidia(name: str, total_mib: int, *, in_use: int = DESKTOP_USE, cc: str) -> GpuDevice:
    total = total_mib * MIB
    return GpuDevice(
        name=f"NVIDIA GeForce {name}" if name.startswith("RTX") else f"NVIDIA {name}",
        backend="cuda",
        total_bytes=total,
        free_bytes=total - in_use,
        bandwidth_bytes_s=bandwidth_for(name),
        compute_capability=cc,
    )


def _apple(chip: str, ram_gib: int, share: float) -> GpuDevice:
    limit = int(ram_gib * GIB * share)
    return GpuDevice(
        name=f"Apple {chip}",
        backend="metal",
        total_bytes=limit,
        free_bytes=limit,
        bandwidth_bytes_s=bandwidth_for(f"Apple {chip}"),
        unified=True,
    )


def _machine(
    name: str,
    cpu: CpuInfo,
    ram_gib: int,
    avail_gib: float,
    ram_bw_gbs: float,
    gpus: tuple[GpuDevice, ...] = (),
) -> HardwareProfile:
    return HardwareProfile(
        name=name,
        cpu=cpu,
        ram_total_bytes=ram_gib * GIB,
        ram_available_bytes=int(avail_gib * GIB),
        ram_bandwidth_bytes_s=ram_bw_gbs * 1e9,
        gpus=gpus,
    )


def _cpu(name: str, physical: int, logical: int, features: tuple[str, ...], arch: str = "x86_64") -> CpuInfo:
    return CpuInfo(name=name, physical_cores=physical, logical_cores=logical, features=features, arch=arch)


def _build() -> dict[str, HardwareProfile]:
    laptop_cpu = _cpu("Intel Core i5-1135G7", 4, 8, X86_AVX512)
    desk_cpu = _cpu("AMD Ryzen 7 5800X", 8, 16, X86_AVX2)
    zen4 = _cpu("AMD Ryzen 9 7950X", 16, 32, X86_AVX512)
    m2max = _cpu("Apple M2 Max", 12, 12, ARM_APPLE, "aarch64")
    machines = [
        _machine("laptop-8gb", laptop_cpu, 8, 4.5, 51.2),
        _machine("cpu-16gb", desk_cpu, 16, 12, 51.2),
        _machine("cpu-64gb-ddr5", zen4, 64, 56, 83.2),
        _machine("rtx4060-laptop-8gb", laptop_cpu, 16, 11, 51.2, (_nvidia("RTX 4060 Laptop GPU", 8188, cc="8.9"),)),
        _machine("rtx3060-12gb", desk_cpu, 32, 26, 51.2, (_nvidia("RTX 3060", 12288, cc="8.6"),)),
        _machine("rtx4090-24gb", zen4, 64, 56, 83.2, (_nvidia("RTX 4090", 24564, cc="8.9"),)),
        _machine(
            "2x-rtx3090",
            zen4,
            128,
            118,
            83.2,
            (_nvidia("RTX 3090", 24576, cc="8.6"), _nvidia("RTX 3090", 24576, in_use=20 * MIB, cc="8.6")),
        ),
        _machine("m1-16gb", _cpu("Apple M1", 8, 8, ARM_APPLE, "aarch64"), 16, 10, 68.25, (_apple("M1", 16, 2 / 3),)),
        _machine("m2-max-32gb", m2max, 32, 24, 400, (_apple("M2 Max", 32, 2 / 3),)),
        _machine(
            "m3-max-128gb",
            _cpu("Apple M3 Max", 16, 16, ARM_APPLE, "aarch64"),
            128,
            110,
            400,
            (_apple("M3 Max", 128, 3 / 4),),
        ),
        _machine(
            "h100-80gb",
            _cpu("Intel Xeon Platinum 8480+", 16, 16, X86_AVX512),
            128,
            120,
            300,
            (_nvidia("H100 80GB HBM3", 81559, in_use=480, cc="9.0"),),  # nvidia-smi on an idle H100
        ),
    ]
    return {m.name: m for m in machines}


PRESETS: dict[str, HardwareProfile] = _build()


def preset(name: str) -> HardwareProfile:
    """The preset called ``name`` (case and '_' vs '-' ignored).

    Raises:
        UsageError: no preset has that name; the hint lists them.
    """
    key = name.strip().lower().replace("_", "-")
    try:
        return PRESETS[key]
    except KeyError:
        raise UsageError(
            f"There is no hardware preset called {name!r}.",
            "Use one of: " + ", ".join(sorted(PRESETS)) + ", or a JSON file from `quantpick hardware --json`.",
        ) from None
