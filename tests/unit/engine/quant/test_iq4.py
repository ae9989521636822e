"""IQ4_NL and IQ4_XS: grid lookup, spec vectors, a scalar transliteration of ggml's search, error bounds."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.errors import InvalidValuesError, UsageError
from engine.quant import dequantize, quantize
from engine.quant.kernels.iq4 import GRID, nl_index
from tests.unit.engine.quant.test_legacy import OTHER_XP, V1, V2_IMATRIX, v2_row

F = np.float32
K = [int(k) for k in GRID]
MAGIC = F(12582912.0)


def best_index(v: np.float32) -> int:
    """ggml's best_index_int8(16, kvalues_iq4nl, v), literally (binary search, binary32 differences)."""
    if v <= K[0]:
        return 0
    if v >= K[15]:
        return 15
    ml, mu = 0, 15
    while mu - ml > 1:
        mav = (ml + mu) // 2
        if v < K[mav]:
            mu = mav
        else:
            ml = mav
    return mu - 1 if (v - F(K[mu - 1])) < (F(K[mu]) - v) else mu


def nearest_int(v: np.float32) -> int:
    t = np.array([v + MAGIC], dtype=F)
    return int((t.view(np.int32)[0] & 0x007FFFFF) - 0x00400000)


def recip(d: np.float32) -> np.float32:
    return F(1) / d if d != 0 else F(0)


def fit_block(xb: np.ndarray, w: list[np.float32]) -> np.float32:
    """The per-block part of quantize_row_iq4_nl_impl with ntry = 7: the best of 16 scales."""
    amax, mx = F(0), F(0)
    for v in xb:
        if abs(v) > amax:
            amax, mx = abs(v), v
    if amax < F(1e-15):
        return F(0)

    def sums(inv: np.float32) -> tuple[np.float32, np.float32]:
        sqx, sq2 = F(0), F(0)
        for v, wj in zip(xb, w):
            q = F(K[best_index(inv * v)])
            sqx, sq2 = sqx + wj * q * v, sq2 + wj * q * q
        return sqx, sq2

    sqx, sq2 = sums(F(1) / (-mx / F(-127)))
    d = sqx / sq2 if sq2 > 0 else F(0)
    best = d * sqx
    for t in range(-7, 8):
        sqx, sq2 = sums(F(t - 127) / mx)
        if sq2 > 0 and sqx * sqx > best * sq2:
            d = sqx / sq2
            best = d * sqx
    return d


def ref_super_block(x: np.ndarray, qw: np.ndarray | None) -> bytes:
    """quantize_row_iq4_nl_impl for one super-block: 32 values (IQ4_NL) or 256 (IQ4_XS)."""
    size = x.size
    sigma2 = F(0)
    for v in x:
        sigma2 = sigma2 + v * v
    sigma2 = sigma2 * F(2 / size)
    scales = []
    for ib in range(size // 32):
        xb = x[32 * ib : 32 * ib + 32]
        if qw is None:
            w = [v * v for v in xb]
        else:
            w = [qw[32 * ib + j] * F(np.sqrt(sigma2 + xb[j] * xb[j])) for j in range(32)]
        scales.append(fit_block(xb, w))
    if size == 32:
        inv = recip(scales[0])
        return _half(scales[0]) + _nibbles([best_index(inv * v) for v in x])
    amax, m = F(0), F(0)
    for s in scales:
        if abs(s) > amax:
            amax, m = abs(s), s
    d = -m / F(32)
    inv = recip(d)
    codes, high, low = [], 0, bytearray(4)
    for ib, s in enumerate(scales):
        lev = max(-32, min(31, nearest_int(inv * s)))
        idl = recip(d * F(lev))
        codes += [best_index(idl * v) for v in x[32 * ib : 32 * ib + 32]]
        low[ib // 2] |= ((lev + 32) & 15) << (4 * (ib % 2))
        high |= ((lev + 32) >> 4) << (2 * ib)
    return _half(d) + high.to_bytes(2, "little") + bytes(low) + _nibbles(codes)


def _half(v: np.float32) -> bytes:
    return np.array([v], dtype=F).astype(np.float16).tobytes()


def _nibbles(codes: list[int]) -> bytes:
    return b"".join(
        bytes(codes[32 * i + j] | (codes[32 * i + 16 + j] << 4) for j in range(16)) for i in range(len(codes) // 32)
    )


def ref_rows(x: np.ndarray, type_name: str, qw: np.ndarray | None) -> bytes:
    size = 32 if type_name == "IQ4_NL" else 256
    out = b""
    with np.errstate(all="ignore"):  # inf*0 and overflow happen in C too, silently
        for row in x:
            for s in range(0, row.size, size):
                out += ref_super_block(row[s : s + size], None if qw is None else qw[s : s + size])
    return out


# -- the grid lookup -----------------------------------------------------------------------------------
def _around(centre: float, n: int = 40) -> list[np.float32]:
    v, out = F(centre), []
    lo = hi = v
    for _ in range(n):
        lo, hi = np.nextafter(lo, F(-np.inf)), np.nextafter(hi, F(np.inf))
        out += [lo, hi]
    return [v, *out]


def test_nl_index_matches_the_binary_search_everywhere_it_can_differ() -> None:
    probes = [F(0.0), F(-0.0), F(np.inf), F(-np.inf), F(np.nan), F(1e30), F(-1e30), F(1e-45)]
    for a, b in zip(K[:-1], K[1:], strict=True):
        probes += _around((a + b) / 2) + _around(a) + _around(b)
    probes += list(np.random.default_rng(3).uniform(-140, 130, 20000).astype(F))
    v = np.array(probes, dtype=F)
    assert nl_index(v, np).tolist() == [best_index(p) for p in v]


def test_nl_index_of_zero_and_nan() -> None:
    assert nl_index(np.array([0.0, -0.0, np.nan], dtype=F), np).tolist() == [8, 8, 15]


# -- quant-spec section 8 ----------------------------------------------------------------------------
V2 = {
    ("IQ4_NL", False): (144, "f792e15264ced0d4", "a227f32d0ffefbff1f33321efcc7b290"),
    ("IQ4_XS", False): (136, "4d462efbcf01dba9", "1c1433f01e1e20bff32d0ffefbff1f33"),
    ("IQ4_NL", True): (144, "169daf93c634e1e3", "a727f32d0ffefbff1f33321efcc7b290"),
    ("IQ4_XS", True): (136, "d59b98d1eb161885", "33143ff0ed0c31aef32d0ffefbff1f33"),
}


def test_spec_vector_v1_iq4_nl() -> None:
    assert quantize(V1, "IQ4_NL").tobytes().hex() == "22248091a1a1b2b2c3c3d3d4e4e5e6f6f7f8"


@pytest.mark.parametrize(("type_name", "weighted"), list(V2))
def test_spec_vector_v2(type_name: str, weighted: bool) -> None:
    out = quantize(v2_row(), type_name, imatrix=V2_IMATRIX if weighted else None).tobytes()
    assert (len(out), hashlib.sha256(out).hexdigest()[:16], out[:16].hex()) == V2[(type_name, weighted)]


def test_all_zero_blocks() -> None:
    assert quantize(np.zeros((1, 32), dtype=F), "IQ4_NL").tobytes().hex() == "0000" + "88" * 16
    assert quantize(np.zeros((1, 256), dtype=F), "IQ4_XS").tobytes().hex() == "0080aaaa00000000" + "88" * 128


# -- against the scalar transliteration -------------------------------------------------------------
SPECIAL = [0.0, -0.0, 1.0, -1.0, 5e-16, -3e-16, 1e-38, 2.5, -113.0, 127.0, 1000.0, -1000.0]
values = st.one_of(st.sampled_from(SPECIAL), st.floats(-1000, 1000, width=32, allow_subnormal=True))


def test_weighted_sums_start_from_positive_zero() -> None:
    """Only a -0.0 carries weight: ggml's sums start at +0.0, so the scale is +0.0, not -0.0."""
    x = np.full((1, 32), -0.0, dtype=F)
    x[0, 1] = -113.0
    qw = np.zeros(32, dtype=F)
    qw[0] = 1.0
    assert quantize(x, "IQ4_NL", imatrix=qw).tobytes() == ref_rows(x, "IQ4_NL", qw)


@pytest.mark.parametrize("weighted", [False, True])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_iq4_nl_matches_scalar_reference(weighted: bool, data: st.DataObject) -> None:
    x = data.draw(hnp.arrays(F, st.tuples(st.integers(1, 2), st.sampled_from([32, 64])), elements=values))
    qw = data.draw(hnp.arrays(F, x.shape[1], elements=st.floats(0, 50, width=32))) if weighted else None
    assert quantize(x, "IQ4_NL", imatrix=qw).tobytes() == ref_rows(x, "IQ4_NL", qw)


@pytest.mark.parametrize("weighted", [False, True])
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_iq4_xs_matches_scalar_reference(weighted: bool, data: st.DataObject) -> None:
    x = data.draw(hnp.arrays(F, (1, 256), elements=values))
    if data.draw(st.booleans()):  # whole zero or tiny sub-blocks exercise the 6-bit scale edge cases
        x[0, 32 * data.draw(st.integers(0, 7)) :][:32] = F(data.draw(st.sampled_from([0.0, 1e-17, 3.0])))
    qw = data.draw(hnp.arrays(F, 256, elements=st.floats(0, 50, width=32))) if weighted else None
    assert quantize(x, "IQ4_XS", imatrix=qw).tobytes() == ref_rows(x, "IQ4_XS", qw)


# -- round trip and refusals ------------------------------------------------------------------------
def error_bound(type_name: str, x: np.ndarray) -> np.ndarray:
    """Per 32-value block: a quarter of its largest |x| (the grid's widest gap is 24 of 240, the edge
    codes clamp at 113/127), plus for IQ4_XS what the 6-bit sub-scales lose, at most
    127 * max_scale/32 ~ 5% of the super-block's largest |x|; and binary16 rounding of the scale
    (relative 2**-11, or absolute 2**-25 once it is subnormal) times the largest multiplier."""
    a = np.abs(x.astype(np.float64)).reshape(-1, 32).max(1)
    if type_name == "IQ4_NL":
        return a / 4 + a * 2.0**-9 + 127 * 2.0**-25
    sup = np.repeat(np.abs(x.astype(np.float64)).reshape(-1, 256).max(1), 8)
    return a / 4 + sup * (0.05 + 2.0**-9) + 32 * 127 * 2.0**-25


@pytest.mark.parametrize(("type_name", "unit"), [("IQ4_NL", 32), ("IQ4_XS", 256)])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_error_is_bounded(type_name: str, unit: int, data: st.DataObject) -> None:
    shape = (data.draw(st.integers(1, 3)), unit * data.draw(st.integers(1, 3)))
    x = data.draw(hnp.arrays(F, shape, elements=st.floats(-1000, 1000, width=32)))
    y = dequantize(quantize(x, type_name), type_name, shape[1])
    err = np.abs(y.astype(np.float64) - x).reshape(-1, 32).max(1)
    assert (err <= error_bound(type_name, x)).all()


@pytest.mark.parametrize(("type_name", "unit"), [("IQ4_NL", 32), ("IQ4_XS", 256)])
@settings(max_examples=15, deadline=None)
@given(n_per_row=st.integers(1, 600))
def test_rows_that_are_not_whole_blocks_are_refused(type_name: str, unit: int, n_per_row: int) -> None:
    if n_per_row % unit == 0:
        n_per_row += 1
    with pytest.raises(UsageError):
        quantize(np.zeros((2, n_per_row), dtype=F), type_name)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("type_name", ["IQ4_NL", "IQ4_XS"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(type_name: str, bad: float, weighted: bool) -> None:
    """ggml writes a zero scale for a NaN block (and garbage codes); Quantpick refuses the tensor."""
    x = np.ones((2, 256), dtype=F)
    x[1, 77] = bad
    with pytest.raises(InvalidValuesError, match="output.weight"):
        quantize(x, type_name, name="output.weight", imatrix=np.ones(256, F) if weighted else None)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("type_name", ["IQ4_NL", "IQ4_XS"])
def test_the_generic_array_module_branches_give_the_same_bytes(type_name: str, weighted: bool) -> None:
    x = np.random.default_rng(12).standard_normal((2, 256)).astype(F)
    x[0, :32] = 0.0
    qw = V2_IMATRIX if weighted else None
    ours = quantize(x, type_name, imatrix=qw, xp=OTHER_XP)
    assert np.array_equal(ours, quantize(x, type_name, imatrix=qw))
    assert np.array_equal(dequantize(ours, type_name, 256, xp=OTHER_XP), dequantize(ours, type_name, 256))
