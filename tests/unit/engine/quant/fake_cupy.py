"""Numpy-backed stand-ins for the few CuPy and NVML calls Quantpick makes, so GPU control flow runs anywhere.

``FakeCupy`` delegates array functions to numpy but is not numpy, so kernels take their CuPy branches.
Streams, events and devices record what was done to them; pinned memory is ordinary host memory. Tests
install them with ``monkeypatch.setitem(sys.modules, "cupy", ...)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np


class FakeDeviceArray(np.ndarray):
    """A "device" array: numpy memory, with CuPy's ``set`` and ``get``."""

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        if arr.shape != self.shape:
            raise ValueError(f"shape mismatch: {arr.shape} into {self.shape}")
        if stream is not None:
            stream.log.append(("set", arr.ctypes.data))
        np.copyto(self.view(np.ndarray), arr)

    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None) -> np.ndarray:
        if stream is not None:
            stream.log.append(("get", None if out is None else out.ctypes.data))
        if out is None:
            return np.array(self.view(np.ndarray))
        np.copyto(out, self.view(np.ndarray))
        return out


class OutOfMemoryError(MemoryError):
    """cupy.cuda.memory.OutOfMemoryError."""


@dataclass
class FakeEvent:
    stream: "FakeStream"


@dataclass(eq=False)
class FakeStream:
    non_blocking: bool = False
    log: list[tuple[str, Any]] = field(default_factory=list)
    on_wait: Callable[[FakeEvent], None] | None = None

    def __enter__(self) -> "FakeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def record(self) -> FakeEvent:
        self.log.append(("record", None))
        return FakeEvent(self)

    def wait_event(self, event: FakeEvent) -> None:
        self.log.append(("wait", event.stream))
        if self.on_wait is not None:
            self.on_wait(event)

    def synchronize(self) -> None:
        self.log.append(("synchronize", None))


class FakePool:
    """CuPy's memory pools: a limit and a count of how often the cache was emptied."""

    def __init__(self) -> None:
        self.limit, self.freed = 0, 0

    def get_limit(self) -> int:
        return self.limit

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        self.limit = int(size or 0)

    def free_all_blocks(self) -> None:
        self.freed += 1


class FakeCupy(ModuleType):
    """The ``cupy`` module as Quantpick uses it, for GPUs given as (PCI bus id, ...) in CUDA's order."""

    ndarray = FakeDeviceArray

    def __init__(self, bus_ids: tuple[str, ...] = ("0000:01:00.0",), *, compiled: Any = None) -> None:
        """``compiled``: a module whose ``get_function`` runs the CUDA source's kernels (c_kernels.FakeRawModule);
        without it, ``cupy.RawModule`` does not exist and the compiled kernels count as unavailable."""
        super().__init__("cupy")
        if compiled is not None:
            self.RawModule = lambda code, options: compiled
        self.streams: list[FakeStream] = []
        self.devices_used: list[int] = []
        self.pinned_bytes = 0
        self.pool, self.pinned_pool = FakePool(), FakePool()
        self._lock = threading.Lock()
        self.cuda = SimpleNamespace(
            Device=self._device, Stream=self._stream, alloc_pinned_memory=self._pinned,
            runtime=SimpleNamespace(getDeviceCount=lambda: len(bus_ids), deviceGetPCIBusId=lambda i: bus_ids[i]),
            memory=SimpleNamespace(OutOfMemoryError=OutOfMemoryError),
        )

    def __getattr__(self, name: str) -> Any:  # everything else: numpy's function of that name
        return getattr(np, name)

    def empty(self, shape: Any, dtype: Any = np.float32) -> FakeDeviceArray:
        return np.empty(shape, dtype=dtype).view(FakeDeviceArray)

    def zeros(self, shape: Any, dtype: Any = np.float32) -> FakeDeviceArray:
        return np.zeros(shape, dtype=dtype).view(FakeDeviceArray)

    def get_default_memory_pool(self) -> FakePool:
        return self.pool

    def get_default_pinned_memory_pool(self) -> FakePool:
        return self.pinned_pool

    def _device(self, index: int) -> Any:
        self.devices_used.append(index)
        return _NullContext()

    def _stream(self, non_blocking: bool = False) -> FakeStream:
        stream = FakeStream(non_blocking)
        with self._lock:
            self.streams.append(stream)
        return stream

    def _pinned(self, nbytes: int) -> bytearray:
        self.pinned_bytes += nbytes
        return bytearray(nbytes)


class _NullContext:
    def __enter__(self) -> "_NullContext":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class NVMLError(Exception):
    """pynvml.NVMLError."""


def fake_nvml(gpus: dict[str, tuple[str, int]] | None, *, init_error: bool = False) -> ModuleType:
    """A ``pynvml`` module whose GPUs are {PCI bus id: (name, free bytes)}; ``init_error``: no driver."""
    gpus = gpus or {}
    mod = ModuleType("pynvml")
    state = {"init": 0, "shutdown": 0}

    def init() -> None:
        if init_error:
            raise NVMLError("NVML Shared Library Not Found")
        state["init"] += 1

    def handle(bus: str) -> str:
        if bus not in gpus:
            raise NVMLError("Not Found")
        return bus

    mod.__dict__.update(
        NVMLError=NVMLError, state=state, nvmlInit=init,
        nvmlShutdown=lambda: state.__setitem__("shutdown", state["shutdown"] + 1),
        nvmlDeviceGetCount=lambda: len(gpus), nvmlDeviceGetHandleByPciBusId=handle,
        nvmlDeviceGetName=lambda h: gpus[h][0].encode(),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(free=gpus[h][1], total=gpus[h][1] * 2, used=gpus[h][1]),
    )
    return mod
