"""The CUDA warm-up: retains a context only on a one-GPU machine, releases it once, and never raises."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.quant.cuda_warmup import CudaWarmup, start_cuda_warmup

ROOT = Path(__file__).resolve().parents[4]
CONTEXT = 0xC0FFEE


class FakeFunction:
    """A driver entry point: checks each call against the argtypes the module declared, as ctypes would."""

    def __init__(self, driver: FakeDriver, name: str, result: int) -> None:
        self.driver, self.name, self.result = driver, name, result
        self.argtypes: list[Any] | None = None
        self.restype: Any = None

    def __call__(self, *args: Any) -> int:
        assert self.restype is ctypes.c_int, f"{self.name}: CUresult is an int"
        assert self.argtypes is not None and len(args) == len(self.argtypes), f"{self.name}: argtypes"
        for arg, argtype in zip(args, self.argtypes, strict=True):
            if issubclass(argtype, ctypes._Pointer):
                assert isinstance(arg, argtype), f"{self.name}: {arg!r} is not a {argtype.__name__}"
            else:
                assert isinstance(arg, (int, argtype)), f"{self.name}: {arg!r} is not a {argtype.__name__}"
        self.driver.calls.append(self.name)
        if self.result == 0:
            self.driver.write_outputs(self.name, args)
        return self.result


class FakeDriver:
    """libcuda's five functions the warm-up uses; ``results`` makes one fail with a CUresult."""

    def __init__(self, n_devices: int = 1, results: dict[str, int] | None = None) -> None:
        self.n_devices = n_devices
        self.calls: list[str] = []
        self.retained = 0
        for name in ("cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDevicePrimaryCtxRetain",
                     "cuDevicePrimaryCtxRelease_v2"):
            setattr(self, name, FakeFunction(self, name, (results or {}).get(name, 0)))

    def write_outputs(self, name: str, args: tuple[Any, ...]) -> None:
        if name == "cuDeviceGetCount":
            args[0].contents.value = self.n_devices
        elif name == "cuDeviceGet":
            assert args[1] == 0
            args[0].contents.value = 0
        elif name == "cuDevicePrimaryCtxRetain":
            assert args[1].value == 0
            args[0].contents.value = CONTEXT
            self.retained += 1
        elif name == "cuDevicePrimaryCtxRelease_v2":
            assert args[0] == 0 and self.retained > 0, "released a context that was not retained"
            self.retained -= 1


def warm(driver: FakeDriver) -> CudaWarmup:
    warmup = start_cuda_warmup(loader=lambda: driver)
    assert warmup.wait(timeout=10)
    return warmup


def test_one_gpu_retains_its_context_and_releases_it_once() -> None:
    driver = FakeDriver(n_devices=1)
    warmup = warm(driver)
    assert driver.calls == ["cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDevicePrimaryCtxRetain"]
    assert warmup.holds_context and driver.retained == 1
    warmup.release()
    warmup.release()
    assert driver.calls.count("cuDevicePrimaryCtxRelease_v2") == 1
    assert driver.retained == 0 and not warmup.holds_context


@pytest.mark.parametrize("n_devices", [0, 2])
def test_unless_exactly_one_gpu_only_the_driver_starts(n_devices: int) -> None:
    """With several GPUs the one to use is chosen later: a context now would take the wrong one's memory."""
    driver = FakeDriver(n_devices=n_devices)
    warmup = warm(driver)
    warmup.release()
    assert driver.calls == ["cuInit", "cuDeviceGetCount"]
    assert not warmup.holds_context


@pytest.mark.parametrize("failing", ["cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDevicePrimaryCtxRetain"])
def test_a_driver_error_retains_nothing_and_raises_nothing(failing: str, caplog: pytest.LogCaptureFixture) -> None:
    driver = FakeDriver(results={failing: 100})  # CUDA_ERROR_NO_DEVICE
    caplog.set_level("DEBUG", logger="engine.quant.cuda_warmup")
    warmup = warm(driver)
    warmup.release()
    assert driver.calls[-1] == failing and driver.retained == 0
    assert "cuDevicePrimaryCtxRelease_v2" not in driver.calls
    message = f"CUDA warm-up stopped: _DriverError: {failing} returned CUDA error 100"
    assert [r.getMessage() for r in caplog.records] == [message]


def test_a_failed_release_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    driver = FakeDriver(results={"cuDevicePrimaryCtxRelease_v2": 201})  # CUDA_ERROR_INVALID_CONTEXT
    caplog.set_level("DEBUG", logger="engine.quant.cuda_warmup")
    warm(driver).release()
    assert "could not be released" in caplog.text


def test_without_a_driver_library_it_just_ends() -> None:
    def no_library() -> Any:
        raise OSError("libcuda.so.1: cannot open shared object file: No such file or directory")

    warmup = start_cuda_warmup(loader=no_library)
    assert warmup.wait(timeout=10)
    warmup.release()
    assert not warmup.holds_context


def test_a_release_before_the_context_exists_gives_it_back_when_it_does() -> None:
    """release() does not wait on a slow driver: the thread gives the context back itself."""
    driver, gate = FakeDriver(n_devices=1), threading.Event()

    def slow_loader() -> FakeDriver:
        gate.wait(timeout=10)
        return driver

    warmup = start_cuda_warmup(loader=slow_loader)
    warmup.release()  # returns at once, although the driver has not even been loaded
    gate.set()
    assert warmup.wait(timeout=10)
    assert driver.calls[-2:] == ["cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2"]
    assert driver.retained == 0 and not warmup.holds_context


def test_the_module_imports_neither_cupy_nor_numpy() -> None:
    """Loaded by path, without the engine.quant package (which needs numpy for its kernels)."""
    code = (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('cuda_warmup', {str(ROOT / 'engine/quant/cuda_warmup.py')!r});"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec));"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('cupy', 'numpy')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
