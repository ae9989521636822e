"""Run the compiled CUDA kernels of ``cuda_source`` on CuPy arrays, trusting each one only after a check.

The first batch of every type is also quantized on the CPU (its first rows, by the numpy kernel, which
the golden tests pin to llama.cpp); a kernel that disagrees, or a module that does not compile, is
switched off for the rest of the process with a log line, and the whole-array CuPy kernels take over.
So a driver or compiler that rounds differently costs speed, never bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.cuda_source import KERNELS, SCAN_GROUP, SOURCE, WIDEN_KERNELS
from engine.quant.xp import to_host

log = logging.getLogger(__name__)

# IEEE binary32 as the C reference computes it: no fused multiply-add, subnormals kept, exact / and sqrt.
COMPILE_OPTIONS = ("--fmad=false", "--ftz=false", "--prec-div=true", "--prec-sqrt=true")
THREADS_PER_BLOCK = 128
CHECK_ROWS = 64

_lock = threading.Lock()
_modules: dict[int, Any] = {}  # id(cupy) -> RawModule, or None when it failed to compile
_trusted: dict[str, bool] = {}  # type name -> whether its first check passed


def _module(cupy: ModuleType) -> Any | None:
    with _lock:
        if id(cupy) not in _modules:
            if not hasattr(cupy, "RawModule"):  # a stand-in without a compiler (the tests' fake CuPy)
                return None
            try:
                module = cupy.RawModule(code=SOURCE, options=COMPILE_OPTIONS)
                for name in [k for k, _, _ in KERNELS.values()] + list(WIDEN_KERNELS.values()):
                    module.get_function(name)  # compiles now, so a failure is caught here
            except Exception as e:  # noqa: BLE001 - any compiler or driver failure means: use the fallback
                log.warning("The compiled GPU kernels are unavailable (%s); using the slower array kernels.", e)
                module = None
            _modules[id(cupy)] = module
        return _modules[id(cupy)]


def load(cupy: ModuleType) -> bool:
    """Compile (or fetch from CuPy's cache) and load the module into the current device now; False if it fails."""
    return _module(cupy) is not None


def has_kernel(type_name: str, cupy: ModuleType) -> bool:
    """Whether ``type_name`` has a compiled kernel that compiled and has not failed its check."""
    return type_name in KERNELS and _trusted.get(type_name) is not False and _module(cupy) is not None


def widen(stored: Any, stored_type: str, n_values: int, out: Any, maxbits: Any, cupy: ModuleType) -> bool:
    """Launch the widening of ``n_values`` stored values into float32 ``out`` (F32 is scanned, not copied).

    The largest magnitude's bits are folded into the uint32 ``maxbits`` (zero it first). False when the
    compiled module is unavailable; nothing was launched then.
    """
    module = _module(cupy)
    if module is None:
        return False
    groups = (n_values + SCAN_GROUP - 1) // SCAN_GROUP
    grid = max(1, (groups + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)
    target = np.uint64(0) if stored_type == "F32" else out  # a null pointer: F32 rows stay where they are
    module.get_function(WIDEN_KERNELS[stored_type])((grid,), (THREADS_PER_BLOCK,),
                                                    (stored, target, np.int64(n_values), maxbits))
    return True


def launch(rows: Any, type_name: str, cupy: ModuleType) -> Any | None:
    """Quantize float32 rows with the compiled kernel of ``type_name``; None if there is none."""
    spec = KERNELS.get(type_name)
    module = _module(cupy) if spec is not None else None
    if spec is None or module is None:
        return None
    name, block, nbytes = spec
    n_rows, n_per_row = rows.shape
    n_blocks = n_rows * n_per_row // block
    out = cupy.empty((n_rows, n_per_row // block * nbytes), dtype=cupy.uint8)
    if n_blocks:
        grid = (n_blocks + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        rows = cupy.ascontiguousarray(rows, dtype=cupy.float32)
        module.get_function(name)((grid,), (THREADS_PER_BLOCK,), (rows, out, np.int64(n_blocks)))
    return out


def quantize(rows: Any, type_name: str, cupy: ModuleType, reference: Callable[[np.ndarray], np.ndarray]) -> Any | None:
    """The compiled kernel's bytes for ``rows``, or None where it is missing, broken or untrusted.

    ``reference`` quantizes host rows on the CPU; it checks the first rows of the first call per type.
    """
    if _trusted.get(type_name) is False:
        return None
    out = launch(rows, type_name, cupy)
    if out is None or type_name in _trusted:
        return out
    k = min(CHECK_ROWS, rows.shape[0])
    same = bool(np.array_equal(to_host(out[:k]), reference(to_host(rows[:k]))))
    with _lock:
        _trusted.setdefault(type_name, same)
    if not same:
        log.warning("The compiled GPU kernel for %s disagrees with the CPU; using the slower array kernels.", type_name)
        return None
    return out


def verdict(type_name: str) -> bool | None:
    """Whether the compiled kernel of ``type_name`` passed its check (None: not checked yet)."""
    return _trusted.get(type_name)
