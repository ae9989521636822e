"""Q2_K: llama-quantize's bytes with and without an imatrix, layout details and sane round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import UsageError
from engine.quant import dequantize, quantize
from engine.quant.kernels import kmath_qkx
from tests.unit.engine.quant.test_q45k import (
    NumpyProxy,
    assert_golden,
    assert_round_trip_bounded,
    assert_spec_vector,
    distributions,
    random_qw,
    sample,
)


@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
def test_matches_llama_quantize(with_imatrix: bool) -> None:
    assert_golden("Q2_K", with_imatrix=with_imatrix)


@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
def test_bit_trick_rounding_gives_the_same_bytes(with_imatrix: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kmath_qkx, "_SAFE", np.float32(0))
    assert_golden("Q2_K", with_imatrix=with_imatrix)


def test_generic_array_module_paths_give_the_same_bytes() -> None:
    assert_golden("Q2_K", with_imatrix=True, xp=NumpyProxy())


@pytest.mark.parametrize(
    ("with_imatrix", "sha_prefix", "head"),
    [
        (False, "01a6ae69f89aa132", "cdcddcbcfcceffccacdefecdbadecdeb"),
        (True, "28c583be5a8ff4dc", "bbcbba9ab9bcfdbbaaccaabfa8cbb9da"),
    ],
)
def test_spec_test_vectors(with_imatrix: bool, sha_prefix: str, head: str) -> None:
    assert_spec_vector("Q2_K", with_imatrix=with_imatrix, sha_prefix=sha_prefix, head=head)


def test_all_zero_block_is_all_zero_bytes() -> None:
    out = quantize(np.zeros((3, 512), dtype=np.float32), "Q2_K")
    assert out.shape == (3, 2 * 84)
    assert not out.any()


def test_code_layout() -> None:
    """Sub-block j of 16 values uses its own scale nibble; codes sit at 2-bit offsets of qs (spec 3.7)."""
    x = np.zeros((1, 256), dtype=np.float32)
    x[0, 16:32] = np.arange(16) % 4  # sub-block 1: codes 0..3 with scale 1, min 0
    out = quantize(x, "Q2_K")[0]
    assert out[1] & 15 == 15 and out[1] >> 4 == 0 and not out[0] and not out[2:16].any()
    # element p = 16 + i lies in qs[p] bits 0-1 (h = 0, k = 0)
    assert [(out[16 + p] & 3) for p in range(16, 32)] == list(np.arange(16) % 4)
    np.testing.assert_allclose(dequantize(out[None], "Q2_K", 256), x, rtol=1e-3)  # d = half(1/15)*15


@settings(max_examples=25, deadline=None)
@given(n_per_row=st.integers(1, 1024).filter(lambda n: n % 256 != 0))
def test_rows_not_a_multiple_of_256_are_refused(n_per_row: int) -> None:
    with pytest.raises(UsageError):
        quantize(np.ones((2, n_per_row), dtype=np.float32), "Q2_K")


@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
@settings(max_examples=15, deadline=None)
@given(
    dist=distributions,
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 300.0]),
    rows=st.integers(1, 6),
    blocks=st.integers(1, 3),
)
def test_round_trip_error_is_bounded(
    with_imatrix: bool, dist: str, seed: int, scale: float, rows: int, blocks: int
) -> None:
    x = sample(dist, seed, scale, (rows, 256 * blocks))
    qw = random_qw(seed, x.shape[1]) if with_imatrix else None
    assert_round_trip_bounded("Q2_K", x, qw, (0.45, 0.5) if not with_imatrix else (0.45, 0.9))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 9))
def test_each_row_is_quantized_on_its_own(seed: int, rows: int) -> None:
    x = sample("uniform", seed, 2.0, (rows, 512))
    whole = quantize(x, "Q2_K")
    for r in range(rows):
        assert (quantize(x[r : r + 1], "Q2_K") == whole[r]).all()
