"""Array-module seam: numpy or CuPy, detected without importing CuPy.

Kernels receive ``xp`` and use only operations both modules provide. This is the only engine module
allowed to import CuPy.
"""

from __future__ import annotations

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
