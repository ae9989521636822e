"""Every kernel reproduces llama-quantize's bytes for every golden tensor (no importance matrix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from engine.quant import dequantize, kernel_for, quantize
from tests.conftest import GOLDEN

KERNEL_TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    """Raw tensor bytes by name, as the gguf package (an independent reader) sees them."""
    return {t.name: np.array(t.data) for t in GGUFReader(path).tensors}


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return read_tensors(GOLDEN / "kernels" / "input-f32.gguf")


@pytest.mark.parametrize("type_name", KERNEL_TYPES)
def test_kernel_bytes_match_llama_quantize(type_name: str, inputs: dict[str, np.ndarray]) -> None:
    reference = read_tensors(GOLDEN / "kernels" / f"{type_name}.gguf")
    for name, x in inputs.items():
        ours = quantize(x.reshape(-1, x.shape[-1]), type_name, name=name)
        ref = reference[name].view(np.uint8).reshape(ours.shape)
        mismatched_rows = np.flatnonzero((ours != ref).any(axis=1))
        assert mismatched_rows.size == 0, f"{type_name} {name}: rows {mismatched_rows[:10]} differ"


@pytest.mark.parametrize("type_name", KERNEL_TYPES)
def test_dequantize_matches_gguf_package(type_name: str) -> None:
    """Our dequantizer agrees with gguf-py's on the reference bytes."""
    from gguf.quants import dequantize as gguf_dequantize

    kernel = kernel_for(type_name)
    for t in GGUFReader(GOLDEN / "kernels" / f"{type_name}.gguf").tensors:
        raw = np.array(t.data).view(np.uint8)
        n_per_row = int(t.shape[0])
        ours = dequantize(raw.reshape(-1, kernel.row_bytes(n_per_row)), type_name, n_per_row)
        theirs = gguf_dequantize(raw, t.tensor_type).reshape(ours.shape)
        np.testing.assert_array_equal(ours, theirs.astype(np.float32))
