"""GPU tests run only where CuPy and a CUDA GPU are present (the device machine: bench/GPU.md)."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def cp() -> ModuleType:
    """The real CuPy module, or a skip that says what is missing."""
    cupy = pytest.importorskip(
        "cupy", reason="CuPy is not installed (pip install 'quantpick[gpu]'); GPU tests run on a machine with one"
    )
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # noqa: BLE001 - no driver, driver too old: every case means "no GPU here"
        pytest.skip(f"CuPy is installed but CUDA cannot start here ({type(e).__name__}: {e})")
    if count == 0:
        pytest.skip("CuPy is installed but CUDA sees no GPU")
    return cupy
