"""The CUDA kernels' source, compiled as C on the CPU, gives the numpy kernels' (llama.cpp's) bytes.

On the GPU the same text runs with fused multiply-add and flush-to-zero off (tests/gpu checks it there);
compiled here with contraction off it must already agree bit for bit. Skips where no C compiler exists.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from engine.quant import quantize
from engine.quant.cuda_source import KERNELS, SCAN_GROUP, SOURCE, WIDEN_KERNELS
from tests.conftest import GOLDEN
from tests.unit.engine.quant.c_kernels import CC, build_library
from tests.unit.engine.quant.test_golden_kernels import read_tensors

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the kernel source with")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    return build_library(tmp_path_factory.mktemp("cuda_source"))


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


def _widen(library: ctypes.CDLL, stored: np.ndarray, type_name: str) -> tuple[np.ndarray | None, int]:
    """The kernel's float32 values (None for the F32 scan, which writes none) and its largest magnitude bits."""
    stored = np.ascontiguousarray(stored)
    out = None if type_name == "F32" else np.full(stored.size, np.nan, dtype=np.float32)
    maxbits = np.zeros(1, dtype=np.uint32)
    fn = getattr(library, WIDEN_KERNELS[type_name])
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_void_p]
    fn(stored.ctypes.data, None if out is None else out.ctypes.data, stored.size, maxbits.ctypes.data)
    return out, int(maxbits[0])


def _magnitude_bits(values: np.ndarray) -> int:
    return int((values.view(np.uint32) & np.uint32(0x7FFFFFFF)).max())


@pytest.mark.parametrize("type_name", ["BF16", "F16"])
@pytest.mark.parametrize("n", [1, 255, 256, 257, 70_001])
def test_widening_is_exact_and_finds_the_largest_magnitude(library: ctypes.CDLL, type_name: str, n: int) -> None:
    rng = np.random.default_rng(n)
    bits = rng.integers(0, 1 << 16, n, dtype=np.uint16)  # every kind of value: subnormal, -0, inf, NaN
    want = (bits.astype(np.uint32) << 16).view(np.float32) if type_name == "BF16" else bits.view(np.float16).astype(
        np.float32)
    got, maxbits = _widen(library, bits, type_name)
    assert got is not None and (got.view(np.uint32) == want.view(np.uint32)).all()
    assert maxbits == _magnitude_bits(want)


@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan, 65504.0, 65505.0, -1e-40])
def test_the_scan_of_float32_rows_sees_every_special_value(library: ctypes.CDLL, special: float) -> None:
    rows = np.random.default_rng(5).uniform(-1, 1, 4099).astype(np.float32)
    rows[1234] = np.float32(special)
    got, maxbits = _widen(library, rows, "F32")
    assert got is None and maxbits == _magnitude_bits(rows)
    assert (maxbits >= 0x7F800000) == (not np.isfinite(special))


def test_the_scan_group_is_the_sources() -> None:
    assert f"#define QP_SCAN_GROUP {SCAN_GROUP}\n" in SOURCE
