"""Array-module seam: numpy or CuPy, detected without importing CuPy.

Kernels receive ``xp`` and use only operations both modules provide. This is the only engine module
allowed to import CuPy.
"""

from __future__ import annotations

import ctypes
import sys
from types import ModuleType
from typing import Any

import numpy as np


def is_cupy_array(arr: Any) -> bool:
    """True for a CuPy array; never imports CuPy to find out."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(arr, cupy.ndarray)


def namespace_of(*arrays: Any) -> ModuleType:
    """The array module the inputs live in (numpy unless any of them is a CuPy array)."""
    kinds = {is_cupy_array(a) for a in arrays if a is not None}
    if len(kinds) > 1:
        raise TypeError("Arrays from numpy and CuPy were mixed; move them to one device first.")
    if kinds == {True}:
        return sys.modules["cupy"]
    return np


def load_cupy() -> ModuleType:
    """Import CuPy on demand (raises ImportError when it is not installed)."""
    import cupy  # noqa: PLC0415 - optional dependency, imported only for the GPU path

    return cupy


def to_host(arr: Any) -> np.ndarray:
    """A numpy array with the same contents (copies from the GPU when needed)."""
    if is_cupy_array(arr):
        return arr.get()
    return np.asarray(arr)


def view_as(arr: Any, dtype: Any) -> Any:
    """Reinterpret the bytes of ``arr`` as ``dtype`` (numpy and CuPy both spell this ``.view``)."""
    return arr.view(dtype)


# glibc mallopt parameters (malloc.h) and the values Quantpick asks for.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's ceiling: arrays up to 32 MiB come from the heap...
_TRIM_THRESHOLD = 256 << 20  # ...and up to 256 MiB of freed heap is kept for the next chunk
_allocator_tuned = False


def keep_freed_host_memory() -> bool:
    """Let glibc's malloc reuse freed numpy temporaries instead of returning them to the OS.

    A numpy kernel allocates and frees dozens of 0.25-8 MiB temporaries per chunk. By default glibc maps
    such arrays afresh or trims them off the heap when they are freed, so each new temporary faults its
    pages in again and the kernel zeroes them: measured at up to twice the arithmetic itself, and
    threads queue on the address-space lock while it happens. Raising the mmap and trim thresholds keeps
    that memory in the process: a process-wide setting, after which up to 256 MiB of freed heap stays
    mapped. Linux with glibc only; elsewhere, or if it fails, nothing changes. Idempotent; returns
    whether the thresholds are in effect.
    """
    global _allocator_tuned  # noqa: PLW0603 - one process-wide allocator setting, made once
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return _allocator_tuned
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _allocator_tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _allocator_tuned
