"""The CUDA kernels' source compiled as C, and a stand-in for CuPy's RawModule that runs it on host memory.

With ``FakeCupy(compiled=...)`` the GPU pipeline takes its compiled path (widen, scan, quantize) on a
machine without a GPU: the C build loops over every block where CUDA gives each block a thread.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from engine.quant.cuda_source import SOURCE

CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build_library(folder: Path) -> ctypes.CDLL:
    """Compile the source as C with contraction off (the GPU build's --fmad=false) and load it."""
    assert CC is not None, "callers skip without a C compiler"
    src, lib = folder / "kernels.c", folder / "kernels.so"
    src.write_text(SOURCE)
    subprocess.run([CC, "-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-o", str(lib), str(src),
                    "-lm"], check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


def _c_argument(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        assert value.flags.c_contiguous, "kernels take contiguous arrays"
        return ctypes.c_void_p(value.ctypes.data)
    if isinstance(value, np.uint64):  # a pointer passed by value (0: null)
        return ctypes.c_void_p(int(value) or None)
    return ctypes.c_longlong(int(value))


class FakeRawModule:
    """``cupy.RawModule(code=..., options=...)`` over the C build; counts launches per kernel."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        self.launches: Counter[str] = Counter()

    def get_function(self, name: str) -> Any:
        fn = getattr(self.library, name)

        def launch(grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
            self.launches[name] += 1
            fn(*[_c_argument(a) for a in args])

        return launch
