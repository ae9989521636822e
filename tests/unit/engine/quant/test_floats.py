"""F16 and BF16: every kind of float32 bit pattern against plain reference conversions, both array paths,
and validation that refuses inf/NaN once and only where it should."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from engine.errors import InvalidValuesError
from engine.quant import kernel_for, quantize
from engine.quant.kernels.numeric import half_bits

F = np.float32


def sample_patterns() -> np.ndarray:
    """float32 values from a stride through all 2**32 bit patterns plus the edges of both half formats
    (subnormal boundary, rounding ties, the largest finite values, inf, NaN with high payloads)."""
    strided = np.arange(0, 1 << 32, 65521, dtype=np.uint64).astype(np.uint32)
    edges = np.array(
        [0, 0x80000000, 0x00000001, 0x33000000, 0x33000001, 0x387FE000, 0x387FF000, 0x387FFFFF,
         0x38800000, 0x38801000, 0x38803000, 0x3F800000, 0x3F801000, 0x3F803000, 0x477FE000,
         0x477FEFFF, 0x477FF000, 0x47800000, 0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF, 0x7F800000,
         0x7F800001, 0x7FC00000, 0x7FFFFFFF, 0x3F808000, 0x3F818000, 0x3F817FFF],
        dtype=np.uint32,
    )  # fmt: skip
    bits = np.concatenate([strided, edges, edges | np.uint32(0x80000000)])
    bits = np.concatenate([bits, np.zeros(-bits.size % 64, dtype=np.uint32)])
    return bits.view(F).reshape(-1, 64)


def reference_bf16(x: np.ndarray) -> np.ndarray:
    """ggml_compute_fp32_to_bf16: NaN -> top half | 0x40, else round to nearest even."""
    u = x.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, (u >> 16) | 0x40, rounded).astype(np.uint16)


REFERENCE = {"F16": lambda x: half_bits(x, np), "BF16": reference_bf16}


class _OtherArrayModule(types.ModuleType):
    """numpy under another name: kernels take their non-numpy (CuPy) branches, numpy does the work."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


OTHER_XP = _OtherArrayModule("other_xp")


@pytest.mark.parametrize("type_name", ["F16", "BF16"])
def test_every_kind_of_value_converts_like_the_reference(type_name: str) -> None:
    x = sample_patterns()
    with np.errstate(all="ignore"):
        expected = REFERENCE[type_name](x)
        ours = kernel_for(type_name)._quantize(x, np, None)
        generic = kernel_for(type_name)._quantize(x, OTHER_XP, None)
    np.testing.assert_array_equal(ours.view(np.uint16), expected)
    np.testing.assert_array_equal(generic.view(np.uint16), expected)


@pytest.mark.parametrize("type_name", ["F16", "BF16"])
def test_finite_rows_quantize_exactly_and_strided_input_is_fine(type_name: str) -> None:
    x = sample_patterns().reshape(-1)
    with np.errstate(all="ignore"):
        limit = F(65504) if type_name == "F16" else np.uint32(0x7F7F7FFF).view(F)
        x = x[np.abs(x) <= limit]
    x = x[: x.size // 64 * 64].reshape(-1, 64)
    assert x.shape[0] > 100
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=F)
    wide[:, ::2] = x
    ours = quantize(wide[:, ::2], type_name)  # a strided view
    np.testing.assert_array_equal(ours.view(np.uint16), REFERENCE[type_name](x))


@pytest.mark.parametrize("type_name", ["F16", "BF16"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, "huge"])
def test_values_beyond_the_range_are_refused_with_the_tensor_name(type_name: str, bad: float | str) -> None:
    x = np.random.default_rng(3).standard_normal((40, 96)).astype(F)
    huge = {"F16": F(65520.0), "BF16": F(3.4e38)}[type_name]  # the smallest magnitudes that round to inf
    x[37, 5] = huge if bad == "huge" else F(bad)
    with pytest.raises(InvalidValuesError, match="blk.7.attn_k.weight"):
        quantize(x, type_name, name="blk.7.attn_k.weight")


@pytest.mark.parametrize("type_name", ["F16", "BF16"])
def test_an_unvalidated_bad_chunk_does_not_fail_a_later_clean_tensor(type_name: str) -> None:
    kernel = kernel_for(type_name)
    with np.errstate(all="ignore"):
        kernel._quantize(np.full((1, 64), np.inf, dtype=F), np, None)  # leaves this thread's flag set
    x = np.random.default_rng(4).standard_normal((8, 64)).astype(F)
    np.testing.assert_array_equal(quantize(x, type_name).view(np.uint16), REFERENCE[type_name](x))
    # ... and the flag is spent: the next bad tensor is still caught.
    x[3, 3] = np.nan
    with pytest.raises(InvalidValuesError):
        quantize(x, type_name)
