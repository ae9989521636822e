"""What a machine offers for running a model, as plain frozen data that round-trips through JSON.

A profile comes from probing this machine (``detect``) or from a named preset, or from a JSON file a user
saved on another machine; the recommender only ever sees this data, never a live GPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from engine.errors import CorruptInputError

SCHEMA_VERSION = 1
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True, slots=True)
class GpuDevice:
    """One accelerator as llama.cpp would see it.

    Attributes:
        name: marketing name, e.g. "NVIDIA GeForce RTX 4090".
        backend: "cuda", "rocm", "metal", "vulkan" or "sycl": decides per-device overheads.
        total_bytes: memory the device has.
        free_bytes: memory free right now (what cudaMemGetInfo / the Metal working set would report).
        bandwidth_bytes_s: peak memory bandwidth, or None when unknown.
        compute_capability: "8.6" style for NVIDIA, the gfx target for AMD, else None.
        driver: driver version string, if known.
        unified: memory is shared with the CPU (Apple Silicon, integrated GPUs).
    """

    name: str
    backend: str
    total_bytes: int
    free_bytes: int
    bandwidth_bytes_s: float | None = None
    compute_capability: str | None = None
    driver: str | None = None
    unified: bool = False


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """The host CPU: cores and the SIMD features llama.cpp's CPU kernels care about."""

    name: str
    physical_cores: int
    logical_cores: int
    features: tuple[str, ...] = ()
    arch: str = "x86_64"

    def has(self, feature: str) -> bool:
        """True if the CPU reports ``feature`` (lower-case name such as "avx2", "avx512f", "neon")."""
        return feature.lower() in self.features


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    """A machine: CPU, system RAM, GPUs and free disk.

    Attributes:
        name: "detected" for this machine, else the preset or file name.
        cpu: the host CPU.
        ram_total_bytes: installed system memory.
        ram_available_bytes: memory the OS could give a new process now (MemAvailable).
        ram_bandwidth_bytes_s: peak system memory bandwidth (a table value or an estimate).
        gpus: accelerators in the order llama.cpp enumerates them.
        disk_free_bytes: free space where models would be written, or None if not probed.
        disk_path: the path ``disk_free_bytes`` refers to.
        notes: what the probes could not find out, in plain words (never errors).
    """

    name: str
    cpu: CpuInfo
    ram_total_bytes: int
    ram_available_bytes: int
    ram_bandwidth_bytes_s: float
    gpus: tuple[GpuDevice, ...] = ()
    disk_free_bytes: int | None = None
    disk_path: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def vram_total_bytes(self) -> int:
        """Sum of every GPU's total memory (unified memory included)."""
        return sum(g.total_bytes for g in self.gpus)

    @property
    def vram_free_bytes(self) -> int:
        """Sum of every GPU's free memory."""
        return sum(g.free_bytes for g in self.gpus)

    @property
    def unified_memory(self) -> bool:
        """True when the only GPUs share system RAM, so weights must not be counted twice."""
        return bool(self.gpus) and all(g.unified for g in self.gpus)

    def renamed(self, name: str) -> HardwareProfile:
        """A copy under another name (presets copied into a user's file, for example)."""
        return replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, with a schema version so later formats can migrate it."""
        data = asdict(self)
        data["schema"] = SCHEMA_VERSION
        return data

    def to_json(self) -> str:
        """Pretty JSON text of ``to_dict``."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareProfile:
        """Rebuild a profile from ``to_dict`` output.

        Raises:
            CorruptInputError: a field is missing or has the wrong type.
        """
        try:
            schema = int(data.get("schema", SCHEMA_VERSION))
            if schema > SCHEMA_VERSION:
                raise CorruptInputError(
                    f"This hardware file uses format version {schema}, newer than this Quantpick understands.",
                    "Update Quantpick, or save the hardware profile again with this version.",
                )
            cpu_raw = dict(data["cpu"])
            cpu = CpuInfo(
                name=str(cpu_raw["name"]),
                physical_cores=int(cpu_raw["physical_cores"]),
                logical_cores=int(cpu_raw["logical_cores"]),
                features=tuple(str(f) for f in cpu_raw.get("features", ())),
                arch=str(cpu_raw.get("arch", "x86_64")),
            )
            gpus = tuple(_gpu_from_dict(g) for g in data.get("gpus", ()))
            disk_free = data.get("disk_free_bytes")
            return cls(
                name=str(data["name"]),
                cpu=cpu,
                ram_total_bytes=int(data["ram_total_bytes"]),
                ram_available_bytes=int(data["ram_available_bytes"]),
                ram_bandwidth_bytes_s=float(data["ram_bandwidth_bytes_s"]),
                gpus=gpus,
                disk_free_bytes=None if disk_free is None else int(disk_free),
                disk_path=data.get("disk_path"),
                notes=tuple(str(n) for n in data.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CorruptInputError(
                f"The hardware description is incomplete or malformed ({type(e).__name__}: {e}).",
                "Save it again with `quantpick hardware --json > FILE`, or pick a preset.",
            ) from e

    @classmethod
    def from_json(cls, text: str) -> HardwareProfile:
        """Parse JSON text written by ``to_json``.

        Raises:
            CorruptInputError: the text is not JSON or not a hardware profile.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CorruptInputError(
                f"The hardware file is not valid JSON (line {e.lineno}: {e.msg}).",
                "Save it again with `quantpick hardware --json > FILE`.",
            ) from e
        if not isinstance(data, dict):
            raise CorruptInputError("The hardware file does not hold a JSON object.")
        return cls.from_dict(data)


def _gpu_from_dict(raw: dict[str, Any]) -> GpuDevice:
    """One GPU entry of ``HardwareProfile.from_dict``."""
    bandwidth = raw.get("bandwidth_bytes_s")
    return GpuDevice(
        name=str(raw["name"]),
        backend=str(raw["backend"]),
        total_bytes=int(raw["total_bytes"]),
        free_bytes=int(raw["free_bytes"]),
        bandwidth_bytes_s=None if bandwidth is None else float(bandwidth),
        compute_capability=raw.get("compute_capability"),
        driver=raw.get("driver"),
        unified=bool(raw.get("unified", False)),
    )
