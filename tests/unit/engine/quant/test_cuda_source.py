"""The CUDA kernels' source, compiled as C on the CPU, gives the numpy kernels' (llama.cpp's) bytes.

On the GPU the same text runs with fused multiply-add and flush-to-zero off (tests/gpu checks it there);
compiled here with contraction off it must already agree bit for bit. Skips where no C compiler exists.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.quant import quantize
from engine.quant.cuda_source import KERNELS, SOURCE
from tests.conftest import GOLDEN
from tests.unit.engine.quant.test_golden_kernels import read_tensors

CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the kernel source with")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    folder = tmp_path_factory.mktemp("cuda_source")
    src, lib = folder / "kernels.c", folder / "kernels.so"
    src.write_text(SOURCE)
    subprocess.run([CC, "-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-o", str(lib), str(src),
                    "-lm"], check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


def _run(library: ctypes.CDLL, rows: np.ndarray, type_name: str) -> np.ndarray:
    name, block, nbytes = KERNELS[type_name]
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    out = np.zeros((rows.shape[0], rows.shape[1] // block * nbytes), dtype=np.uint8)
    fn = getattr(library, name)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
    fn(rows.ctypes.data, out.ctypes.data, rows.size // block)
    return out


def _hard_rows() -> np.ndarray:
    rng = np.random.default_rng(11)
    rows = rng.standard_normal((24, 512)).astype(np.float32)
    rows[1] = 0.0
    rows[2] = np.float32(1e-40)
    rows[3] = np.float32(0.5)
    rows[4] = np.round(rows[4] * 8) / 8
    rows[5] *= np.float32(1e-6)
    rows[6] *= np.float32(3000.0)
    rows[7, ::7] = -rows[7, ::7] * 100
    rows[8] = np.where(rng.random(512) < 0.9, 0.0, rows[8]).astype(np.float32)
    rows[9] = np.float32(1e-38)
    rows[10] = -np.abs(rows[10])
    rows[11] = np.abs(rows[11])
    rows[12, :256] = np.float32(-2.0)
    rows[13] = rng.uniform(-60000, 60000, 512).astype(np.float32)
    return rows


@pytest.mark.parametrize("type_name", sorted(KERNELS))
def test_golden_inputs(library: ctypes.CDLL, type_name: str) -> None:
    for name, x in read_tensors(GOLDEN / "kernels" / "input-f32.gguf").items():
        rows = x.reshape(-1, x.shape[-1])
        if rows.shape[1] % KERNELS[type_name][1]:
            continue
        assert (_run(library, rows, type_name) == quantize(rows, type_name)).all(), name


@pytest.mark.parametrize("type_name", sorted(KERNELS))
def test_hard_and_random_rows(library: ctypes.CDLL, type_name: str) -> None:
    rows = np.concatenate([_hard_rows(), np.random.default_rng(3).standard_normal((64, 512)).astype(np.float32)])
    ours, want = _run(library, rows, type_name), quantize(rows, type_name)
    bad = np.flatnonzero((ours != want).any(axis=1))
    assert bad.size == 0, f"rows {bad[:10]} differ"
