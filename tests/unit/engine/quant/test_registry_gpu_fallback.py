"""Rows with tiny values go back to the CPU on the GPU path (CuPy flushes subnormals to zero)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.quant import kernel_for, quantize
from tests.unit.engine.quant.fake_cupy import FakeCupy


def _rows() -> np.ndarray:
    rows = np.random.default_rng(5).standard_normal((6, 256)).astype(np.float32)
    rows[1, :16] = np.float32(1e-38)  # one tiny group: its scale would be subnormal
    rows[3] = np.float32(1e-40)  # subnormal inputs: their bit patterns are tiny but not zero
    rows[4] = 0.0  # all zero: exact on the GPU, stays there
    rows[5, :16] = np.float32(2.0**-14)  # the first magnitude that is not tiny
    return rows


@pytest.mark.parametrize("type_name", ["Q4_0", "Q3_K", "Q8_0"])
def test_tiny_rows_are_requantized_on_the_host(monkeypatch: pytest.MonkeyPatch, type_name: str) -> None:
    fake = FakeCupy()
    kernel = kernel_for(type_name)
    cpu_quantize = type(kernel)._quantize

    def flushing_gpu_kernel(self, rows, xp, imatrix):  # noqa: ANN001, ANN202 - stand-in for the CuPy branch
        if xp is np:
            return cpu_quantize(self, rows, xp, imatrix)
        return np.full((rows.shape[0], self.row_bytes(rows.shape[1])), 0xAA, dtype=np.uint8)

    monkeypatch.setattr(type(kernel), "_quantize", flushing_gpu_kernel)
    rows = _rows()
    out = kernel.quantize_rows(rows, xp=fake)
    want = kernel.quantize_rows(rows, xp=np)
    redone = [i for i in range(rows.shape[0]) if (out[i] == want[i]).all()]
    assert redone == [1, 3]
    assert (out[[0, 2, 4, 5]] == 0xAA).all()


def test_the_fallback_keeps_real_gpu_results_equal_to_the_cpu() -> None:
    rows = _rows()
    assert (quantize(rows, "Q4_K", xp=FakeCupy()) == quantize(rows, "Q4_K")).all()
