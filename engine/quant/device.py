"""Where quantization runs: the GPU when CuPy, an NVIDIA driver and enough free memory are there, else the CPU.

``choose_device("auto")`` never fails: anything missing means the CPU, with one log line saying why.
``choose_device("gpu")`` raises UsageError with the same reason instead. NVML is asked first because it is
cheap and needs no CUDA context, so a machine without an NVIDIA GPU never imports CuPy. CUDA devices are
matched to NVML devices by PCI bus id: CUDA numbers GPUs fastest first (and after CUDA_VISIBLE_DEVICES),
NVML in bus order, so the two indices differ on mixed machines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from engine.errors import UsageError
from engine.quant.registry import GPU_CHUNK_VALUES
from engine.quant.xp import load_cupy

__all__ = ["DEVICE_CHOICES", "DeviceChoice", "batch_values_for", "choose_device", "usable_bytes"]

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "gpu")

# NVML reports free memory before our CUDA context exists; the context and CuPy's compiled kernels take
# a few hundred MiB of it, and other programs may grow meanwhile: keep a fixed reserve plus a fraction.
CONTEXT_RESERVE_BYTES = 768 << 20
FREE_MARGIN_FRACTION = 0.10
# Peak temporaries of one kernel call per input value (registry.GPU_CHUNK_VALUES keeps them under 2 GiB).
KERNEL_BYTES_PER_VALUE = 128
# Batches in flight: one being quantized while the others are read, so the GPU never waits on the disk
# (five reader threads: a Hugging Face source still widens and permutes its rows on the CPU).
PIPELINE_SLOTS = 6
# Device memory of one pipeline slot per value: float32 input plus at most 4 bytes of output (F32).
SLOT_BYTES_PER_VALUE = 8
# One kernel pass per batch: larger batches only cost memory.
MAX_BATCH_VALUES = GPU_CHUNK_VALUES
# Below this, kernel-launch latency dominates and the CPU is as fast: not a useful batch.
MIN_BATCH_VALUES = 1 << 20
# Batches are whole multiples of this many values (the largest block size, QK_K = 256, divides it).
BATCH_GRANULE = 1 << 16

_NO_GPU_HINT = "Use --device cpu (or auto), which quantizes on the CPU."


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """Where a conversion quantizes, and why.

    Attributes:
        kind: "cpu" or "gpu".
        reason: One plain sentence saying why this device was chosen (shown in logs).
        gpu_index: CUDA device number as CuPy counts them (None on the CPU).
        gpu_name: The GPU's name as NVML reports it.
        free_bytes: Free GPU memory NVML reported when the choice was made.
        batch_values: Float32 values per GPU batch, sized from ``free_bytes`` (0 on the CPU).
        memory_limit_bytes: Ceiling for CuPy's memory pool: free memory less the margin (0 on the CPU).
    """

    kind: str
    reason: str
    gpu_index: int | None = None
    gpu_name: str | None = None
    free_bytes: int | None = None
    batch_values: int = 0
    memory_limit_bytes: int = 0

    @property
    def is_gpu(self) -> bool:
        return self.kind == "gpu"

    def describe(self) -> str:
        """``"GPU 0 (NVIDIA H100, 79.2 GiB free)"`` or ``"CPU"``."""
        if not self.is_gpu:
            return "CPU"
        return f"GPU {self.gpu_index} ({self.gpu_name}, {(self.free_bytes or 0) / (1 << 30):.1f} GiB free)"


@dataclass(frozen=True, slots=True)
class _NoGpu:
    """Why the GPU cannot be used, and what the user can do about it."""

    reason: str
    hint: str = _NO_GPU_HINT


def usable_bytes(free_bytes: int) -> int:
    """GPU memory the conversion may take out of ``free_bytes``: minus the fraction, minus the reserve."""
    return max(0, int(free_bytes * (1 - FREE_MARGIN_FRACTION)) - CONTEXT_RESERVE_BYTES)


def batch_values_for(free_bytes: int) -> int:
    """Values per GPU batch that fit in ``free_bytes`` with the margin; 0 when not even a useful batch fits."""
    per_value = KERNEL_BYTES_PER_VALUE + PIPELINE_SLOTS * SLOT_BYTES_PER_VALUE
    values = min(MAX_BATCH_VALUES, usable_bytes(free_bytes) // per_value)
    values -= values % BATCH_GRANULE
    return values if values >= MIN_BATCH_VALUES else 0


def choose_device(request: str = "auto") -> DeviceChoice:
    """The device for ``request`` ("auto", "cpu" or "gpu").

    Raises:
        UsageError: ``request`` is not one of the three, or it is "gpu" and no GPU can be used (says why).
    """
    wanted = request.strip().lower() if isinstance(request, str) else request
    if wanted not in DEVICE_CHOICES:
        raise UsageError(f"{request!r} is not a device.", "Choose auto, cpu or gpu.")
    if wanted == "cpu":
        return DeviceChoice("cpu", "the CPU was asked for")
    found = _best_gpu()
    if isinstance(found, _NoGpu):
        if wanted == "gpu":
            raise UsageError(f"The GPU cannot be used for quantizing: {found.reason}.", found.hint)
        log.info("Quantizing on the CPU: %s.", found.reason)
        return DeviceChoice("cpu", found.reason)
    log.info("Quantizing on %s: %s.", found.describe(), found.reason)
    return found


def _load_nvml() -> ModuleType | None:
    try:
        import pynvml  # noqa: PLC0415 - NVML is only needed when a GPU might be used
    except ImportError:
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _best_gpu() -> DeviceChoice | _NoGpu:
    """The CUDA device with the most free memory, or why there is none worth using."""
    nvml = _load_nvml()
    if nvml is None:
        return _NoGpu("the nvidia-ml-py package is not installed, so NVIDIA GPUs cannot be found",
                      "Reinstall Quantpick (it depends on nvidia-ml-py), or use --device cpu.")
    try:
        nvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound / DriverNotLoaded: no NVIDIA GPU here
        return _NoGpu("no NVIDIA driver was found (NVML could not start)",
                      "Install the NVIDIA driver, or use --device cpu.")
    try:
        return _pick(nvml)
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting NVML down cannot change the answer
            pass


def _pick(nvml: Any) -> DeviceChoice | _NoGpu:
    try:
        if int(nvml.nvmlDeviceGetCount()) == 0:
            return _NoGpu("the NVIDIA driver reports no GPU")
    except Exception as e:  # noqa: BLE001 - a driver fault means: no usable GPU
        return _NoGpu(f"the NVIDIA driver could not list its GPUs ({e})")
    try:
        cupy = load_cupy()
    except ImportError:
        return _NoGpu("CuPy is not installed", "Install the GPU extra: pip install 'quantpick[gpu]'.")
    except Exception as e:  # noqa: BLE001 - a broken CuPy install (missing CUDA libraries) is not fatal
        return _NoGpu(f"CuPy could not be loaded ({type(e).__name__}: {e})",
                      "Reinstall the GPU extra matching your CUDA version: pip install 'quantpick[gpu]'.")
    try:
        gpus = _cuda_gpus(nvml, cupy)
    except Exception as e:  # noqa: BLE001 - CUDA runtime errors (driver too old, device busy) mean: CPU
        return _NoGpu(f"CUDA could not start ({type(e).__name__}: {e})",
                      "Update the NVIDIA driver to one that supports CuPy's CUDA version, or use --device cpu.")
    if not gpus:
        return _NoGpu("CUDA sees no GPU (check CUDA_VISIBLE_DEVICES)")
    index, name, free = max(gpus, key=lambda g: (g[2], -g[0]))  # most free memory; first on a tie
    batch = batch_values_for(free)
    if batch == 0:
        need = CONTEXT_RESERVE_BYTES + MIN_BATCH_VALUES * (KERNEL_BYTES_PER_VALUE + PIPELINE_SLOTS * SLOT_BYTES_PER_VALUE)
        return _NoGpu(f"GPU {index} ({name}) has only {free >> 20} MiB free and needs about "
                      f"{int(need / (1 - FREE_MARGIN_FRACTION)) >> 20} MiB",
                      "Close programs that use the GPU, or use --device cpu.")
    reason = "it has the most free memory" if len(gpus) > 1 else "CuPy and an NVIDIA GPU are available"
    return DeviceChoice("gpu", reason, gpu_index=index, gpu_name=name, free_bytes=free,
                        batch_values=batch, memory_limit_bytes=usable_bytes(free))


def _cuda_gpus(nvml: Any, cupy: ModuleType) -> list[tuple[int, str, int]]:
    """(CUDA index, name, free bytes) of every GPU CUDA sees, read from NVML through the PCI bus id."""
    gpus = []
    for index in range(int(cupy.cuda.runtime.getDeviceCount())):
        handle = nvml.nvmlDeviceGetHandleByPciBusId(cupy.cuda.runtime.deviceGetPCIBusId(index))
        free = int(nvml.nvmlDeviceGetMemoryInfo(handle).free)
        gpus.append((index, _text(nvml.nvmlDeviceGetName(handle)), free))
    return gpus
