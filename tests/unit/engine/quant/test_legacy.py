"""Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: spec vectors, a scalar transliteration of ggml's C loops, error bounds."""

from __future__ import annotations

import hashlib
import math
import types
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.errors import InvalidValuesError, UsageError
from engine.quant import dequantize, kernel_for, quantize

F = np.float32
FLT_MAX = F(np.finfo(np.float32).max)
TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
WEIGHTED = ["Q4_0", "Q4_1", "Q5_0", "Q5_1"]


# -- quant-spec section 8 ----------------------------------------------------------------------------
V1 = ((np.arange(32, dtype=F) - F(15.5)) / F(8)).reshape(1, 32)
V1_HEX = {
    "Q8_0": "d0238189919aa2aab2bac3cbd3dbe3ecf4fc040c141d252d353d464e565e666f777f",
    "Q4_0": "c033809191a2a2b3b3c4c4d5d5e6e6f7f7f8",
    "Q4_1": "2234c0bf80809191a2a2b3b3c4c4d5d5e6e6f7f7",
    "Q5_0": "c02f0000ffff102132435465768798a9bacbdcedfeff",
    "Q5_1": "0030c0bf0000ffff00112233445566778899aabbccddeeff",
}
V2_PLAIN = {
    "Q8_0": (272, "59fe6972f04b6eeb", "cc27c03f6f61277566beb15b39fbb087"),
    "Q4_0": (144, "ae3a252d1eb819fc", "bc37e42c0ffefaff2e44432efcc8b390"),
    "Q4_1": (160, "b71ca05004458b2d", "1438bcc3e42b0eedfaef2e34432debb7"),
    "Q5_0": (176, "f2045658bc7f1148", "bc337ec639bcd8580edcf5ef4d78963b"),
    "Q5_1": (192, "760d221bb8c4674b", "e433bcc37ec639bcc8570ddcf5de4c78"),
}
V2_WEIGHTED = {
    "Q8_0": V2_PLAIN["Q8_0"],  # Q8_0 ignores the importance matrix
    "Q4_0": (144, "9efba98640a05cdf", "3238e43c1eeefaef2e44532dfbb8a391"),
    "Q4_1": (160, "1ead16485886b794", "f3379fc3e42c0eeefaef2e34432dfbb7"),
    "Q5_0": (176, "669bf0c810913305", "e6337ec639bcd8580edcf5ee4d78964b"),
    "Q5_1": (192, "88cbecfda4d92f41", "df33d5c37ec639bcd8580edcf5ee4d78"),
}


def v2_row() -> np.ndarray:
    """quant-spec V2: 256 values from the LCG s = 1103515245*s + 12345 mod 2^31, seed 1."""
    s, out = 1, []
    for _ in range(256):
        s = (1103515245 * s + 12345) % (1 << 31)
        out.append((((s >> 8) % 2001) - 1000) / 256)
    return np.array(out, dtype=F).reshape(1, 256)


V2_IMATRIX = (1 + np.arange(256) % 7).astype(F)


@pytest.mark.parametrize("type_name", TYPES)
def test_spec_vector_v1(type_name: str) -> None:
    assert quantize(V1, type_name).tobytes().hex() == V1_HEX[type_name]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("type_name", TYPES)
def test_spec_vector_v2(type_name: str, weighted: bool) -> None:
    size, digest, head = (V2_WEIGHTED if weighted else V2_PLAIN)[type_name]
    out = quantize(v2_row(), type_name, imatrix=V2_IMATRIX if weighted else None).tobytes()
    assert (len(out), hashlib.sha256(out).hexdigest()[:16], out[:16].hex()) == (size, digest, head)


@pytest.mark.parametrize(
    ("type_name", "block_hex"),
    [
        ("Q8_0", "00" * 34),
        ("Q4_0", "0080" + "88" * 16),
        ("Q4_1", "00" * 20),
        ("Q5_0", "0080ffffffff" + "00" * 16),
        ("Q5_1", "00" * 24),
    ],
)
def test_all_zero_block(type_name: str, block_hex: str) -> None:
    assert quantize(np.zeros((1, 32), dtype=F), type_name).tobytes().hex() == block_hex


def test_q4_1_keeps_the_sign_of_a_negative_zero_minimum() -> None:
    assert quantize(np.full((1, 32), -0.0, dtype=F), "Q4_1").tobytes().hex()[:8] == "00000080"


# -- a scalar transliteration of ggml-quants.c -------------------------------------------------------
def c_int(v: np.float32) -> int:
    """C float -> int conversion on x86 (cvttss2si): truncation, 0x80000000 for NaN and overflow."""
    if not math.isfinite(float(v)) or abs(float(v)) >= 2.0**31:
        return -(1 << 31)
    return math.trunc(float(v))


def low_byte(i: int, signed: bool) -> int:
    b = i & 0xFF
    return b - 256 if signed and b > 127 else b


def roundf(v: np.float32) -> np.float32:
    """C roundf: half away from zero (exact in float64 for binary32 inputs)."""
    if not math.isfinite(float(v)):
        return v
    return F(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


def half_le(v: np.float32) -> bytes:
    return np.array([v], dtype=F).astype(np.float16).tobytes()


def signed_absmax_scan(x: np.ndarray) -> np.float32:
    amax, mx = F(0), F(0)
    for v in x:
        if amax < abs(v):
            amax, mx = abs(v), v
    return mx


def recip(d: np.float32) -> np.float32:
    with np.errstate(over="ignore"):
        return F(1) / d if d != 0 else F(0)


def ref_block(type_name: str, x: np.ndarray) -> bytes:
    """One block as ggml's quantize_row_*_ref writes it (binary32 scalars, x86 conversions)."""
    with np.errstate(all="ignore"):
        if type_name == "Q8_0":
            amax = F(0)
            for v in x:
                amax = amax if amax > abs(v) else abs(v)
            d = amax / F(127)
            inv = recip(d)
            return half_le(d) + bytes(c_int(roundf(v * inv)) & 0xFF for v in x)
        if type_name in ("Q4_0", "Q5_0"):
            nmax = 8 if type_name == "Q4_0" else 16
            d = signed_absmax_scan(x) / F(-nmax)
            inv = recip(d)
            codes = [min(2 * nmax - 1, low_byte(c_int(v * inv + F(nmax + 0.5)), True)) for v in x]
            return half_le(d) + _pack(codes, high=type_name == "Q5_0")
        nmax = 15 if type_name == "Q4_1" else 31
        mn, mx = FLT_MAX, -FLT_MAX
        for v in x:
            mn = v if v < mn else mn
            mx = v if v > mx else mx
        d = (mx - mn) / F(nmax)
        inv = recip(d)
        raw = [low_byte(c_int((v - mn) * inv + F(0.5)), type_name == "Q4_1") for v in x]
        codes = [min(15, c) for c in raw] if type_name == "Q4_1" else raw
        return half_le(d) + half_le(mn) + _pack(codes, high=type_name == "Q5_1")


def _pack(codes: list[int], *, high: bool) -> bytes:
    qs = bytes((codes[j] & 15) | ((codes[j + 16] & 15) << 4) for j in range(16))
    if not high:
        return qs
    qh = sum(((c >> 4) & 1) << i for i, c in enumerate(codes))
    return qh.to_bytes(4, "little") + qs


# Values that exercise every first-occurrence and conversion rule: ties of opposite sign, signed zeros,
# subnormal scales (1/d overflows), exact halves, and magnitudes whose scales still fit binary16.
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, 1e-38, -1e-38, 1e-39, 3e-5, -7.0, 7.0, 1000.0, -1000.0]
values = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(-2000, 2000, width=32, allow_subnormal=True),
)
blocks = hnp.arrays(F, st.tuples(st.integers(1, 3), st.just(32)), elements=values)
# Blocks whose minimum is a zero of either sign: the stored Q4_1/Q5_1 minimum takes the first zero's sign.
zero_min_blocks = hnp.arrays(F, st.tuples(st.integers(1, 3), st.just(32)), elements=st.sampled_from([0.0, -0.0, 0.25, 3.0]))


@pytest.mark.parametrize("type_name", TYPES)
@settings(max_examples=60, deadline=None)
@given(x=st.one_of(blocks, zero_min_blocks))
def test_matches_scalar_c_reference(type_name: str, x: np.ndarray) -> None:
    ours = quantize(x, type_name).tobytes()
    assert ours == b"".join(ref_block(type_name, row) for row in x)


@pytest.mark.parametrize("type_name", ["Q4_1", "Q5_1"])
@pytest.mark.parametrize("first", [0.0, -0.0])
def test_a_zero_minimum_takes_the_sign_of_the_first_zero(type_name: str, first: float) -> None:
    x = np.full((32, 32), 2.0, dtype=F)
    for i in range(32):  # the first zero at every position, the other sign at every later one
        x[i, i] = first
        x[i, i + 1 :: 3] = -first
    assert quantize(x, type_name).tobytes() == b"".join(ref_block(type_name, row) for row in x)


# -- round trip error --------------------------------------------------------------------------------
def error_bound(type_name: str, x: np.ndarray) -> np.ndarray:
    """Largest |dequantize(quantize(x)) - x| a block may show: half a step (a whole one for the clamped
    top code of Q4_0/Q5_0) plus what rounding the scale and minimum to binary16 can add."""
    b = x.reshape(-1, 32).astype(np.float64)
    amax, lo, hi = np.abs(b).max(1), b.min(1), b.max(1)
    half_ulp = lambda v: np.abs(v) * 2.0**-11 + 2.0**-25  # noqa: E731 - binary16 rounding, subnormals too
    if type_name == "Q8_0":
        d = amax / 127
        return d / 2 + 127 * half_ulp(d) + 1e-30
    if type_name in ("Q4_0", "Q5_0"):
        nmax = 8 if type_name == "Q4_0" else 16
        d = amax / nmax
        return d + nmax * half_ulp(d) + 1e-30
    nmax = 15 if type_name == "Q4_1" else 31
    d = (hi - lo) / nmax
    return d / 2 + nmax * half_ulp(d) + half_ulp(lo) + 1e-6 * d + 1e-30


shapes = st.tuples(st.integers(1, 4), st.integers(1, 6).map(lambda k: 32 * k))


@pytest.mark.parametrize("type_name", TYPES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_error_is_bounded(type_name: str, data: st.DataObject) -> None:
    shape = data.draw(shapes)
    x = data.draw(hnp.arrays(F, shape, elements=st.floats(-1000, 1000, width=32)))
    y = dequantize(quantize(x, type_name), type_name, shape[1])
    err = np.abs(y.astype(np.float64) - x).reshape(-1, 32).max(1)
    assert (err <= error_bound(type_name, x)).all()


@pytest.mark.parametrize("type_name", TYPES)
@settings(max_examples=20, deadline=None)
@given(n_rows=st.integers(1, 3), n_per_row=st.integers(1, 200).filter(lambda n: n % 32))
def test_rows_that_are_not_whole_blocks_are_refused(type_name: str, n_rows: int, n_per_row: int) -> None:
    with pytest.raises(UsageError):
        quantize(np.zeros((n_rows, n_per_row), dtype=F), type_name)
    with pytest.raises(UsageError):
        dequantize(np.zeros((n_rows, 64), dtype=np.uint8), type_name, n_per_row)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(type_name: str, bad: float, weighted: bool) -> None:
    x = np.ones((2, 64), dtype=F)
    x[1, 40] = bad
    with pytest.raises(InvalidValuesError, match="blk.0.ffn_up.weight"):
        quantize(x, type_name, name="blk.0.ffn_up.weight", imatrix=np.ones(64, F) if weighted else None)


@pytest.mark.parametrize("type_name", TYPES)
def test_a_finite_block_whose_scale_overflows_binary16_is_refused(type_name: str) -> None:
    x = np.random.default_rng(5).standard_normal((3, 96)).astype(F)
    x[2, 33:40] = F(1e7)  # d >= 1e7/127 rounds to an infinite half in every type
    with pytest.raises(InvalidValuesError, match="blk.1.attn_v.weight"):
        quantize(x, type_name, name="blk.1.attn_v.weight")
    x[2, 33:40] = F(5e3)  # ... while smaller values are fine
    assert quantize(x, type_name).shape == (3, kernel_for(type_name).row_bytes(96))


def test_an_inf_scale_left_by_an_unvalidated_chunk_does_not_fail_a_later_clean_tensor() -> None:
    kernel = kernel_for("Q4_1")
    with np.errstate(all="ignore"):
        kernel._quantize(np.full((1, 32), np.inf, dtype=F), np, None)  # never validated
    x = np.random.default_rng(6).standard_normal((4, 64)).astype(F)
    assert np.array_equal(quantize(x, "Q4_1"), quantize(x, "Q4_1"))
    x[0, 0] = np.nan
    with pytest.raises(InvalidValuesError):
        quantize(x, "Q4_1")


def test_a_scale_too_small_for_its_reciprocal_gives_code_zero() -> None:
    """1/d overflows for d = 1e-38/8: C's float->int conversion then yields 0x80000000 (low byte 0)."""
    x = np.full((1, 32), 1e-38, dtype=F)
    assert quantize(x, "Q4_0").tobytes().hex() == "0080" + "00" * 16
    assert quantize(x, "Q8_0").tobytes().hex() == "0000" + "00" * 32


def test_q8_0_ignores_the_importance_matrix() -> None:
    x = v2_row()
    assert np.array_equal(quantize(x, "Q8_0", imatrix=V2_IMATRIX), quantize(x, "Q8_0"))


@pytest.mark.parametrize("type_name", WEIGHTED)
def test_importance_matrix_changes_the_result_and_keeps_it_sane(type_name: str) -> None:
    x = np.random.default_rng(7).standard_normal((4, 256)).astype(F)
    qw = np.random.default_rng(8).random(256).astype(F) + F(0.1)
    plain, weighted = quantize(x, type_name), quantize(x, type_name, imatrix=qw)
    assert not np.array_equal(plain, weighted)
    y = dequantize(weighted, type_name, 256)
    assert (np.abs(y - x).reshape(-1, 32).max(1) <= 2 * error_bound(type_name, x)).all()


@pytest.mark.parametrize("type_name", TYPES)
def test_uses_imatrix_flag(type_name: str) -> None:
    assert kernel_for(type_name).uses_imatrix == (type_name in WEIGHTED)


class _OtherArrayModule(types.ModuleType):
    """numpy under another name: kernels take their non-numpy (CuPy) branches, numpy does the work."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


OTHER_XP = _OtherArrayModule("other_xp")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("type_name", TYPES)
def test_the_generic_array_module_branches_give_the_same_bytes(type_name: str, weighted: bool) -> None:
    x = np.random.default_rng(11).standard_normal((3, 256)).astype(F)
    x[0, :32] = 0.0  # a zero block
    x[1, 40], x[1, 41] = 9.0, -9.0  # a tie of opposite signs
    qw = V2_IMATRIX if weighted else None
    ours = quantize(x, type_name, imatrix=qw, xp=OTHER_XP)
    assert np.array_equal(ours, quantize(x, type_name, imatrix=qw))
    assert np.array_equal(dequantize(ours, type_name, 256, xp=OTHER_XP), dequantize(ours, type_name, 256))
