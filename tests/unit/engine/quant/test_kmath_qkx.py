"""The vectorised scale+min helpers agree bit for bit with a scalar transliteration of ggml's C."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.quant.kernels import kmath_qkx as kq
from engine.quant.kernels.numeric import MAGIC

f = np.float32


def nearest_int(v: np.float32) -> int:
    """ggml nearest_int on one binary32 value."""
    t = np.array(f(v) + f(MAGIC), dtype=np.float32)
    return (int(t.view(np.int32)) & 0x7FFFFF) - 0x400000


def ref_make_qkx2(x: np.ndarray, w: np.ndarray, p: kq.AffineParams) -> tuple[float, float, list[int]]:
    """ggml make_qkx2_quants, statement by statement, on numpy float32 scalars."""
    n = len(x)
    mn, mx, sum_w = x[0], x[0], w[0]
    sum_x = f(sum_w * x[0])
    for i in range(1, n):
        mn = x[i] if x[i] < mn else mn
        mx = x[i] if x[i] > mx else mx
        sum_w = f(sum_w + w[i])
        sum_x = f(sum_x + f(w[i] * x[i]))
    mn = f(0) if mn > 0 else mn
    if mx == mn:
        return 0.0, float(-mn), [0] * n

    def codes(isc: np.float32) -> list[int]:
        return [max(0, min(p.nmax, nearest_int(f(isc * f(x[i] - mn))))) for i in range(n)]

    def err(scale: np.float32, m: np.float32, lv: list[int]) -> np.float32:
        total = f(0)
        for i in range(n):
            d = f(f(f(scale * f(lv[i])) + m) - x[i])
            total = f(total + f(w[i] * (abs(d) if p.mad else f(d * d))))
        return total

    iscale = f(f(p.nmax) / f(mx - mn))
    scale = f(f(1) / iscale)
    best_l = codes(iscale)
    best = err(scale, mn, best_l)
    for s in range(p.nstep + 1):
        lv = codes(f(f(f(f(p.rmin) + f(f(p.rdelta) * f(s))) + f(p.nmax)) / f(mx - mn)))
        sl = sl2 = sxl = f(0)
        for i in range(n):
            wl = f(w[i] * f(lv[i]))
            sl, sl2, sxl = f(sl + wl), f(sl2 + f(wl * f(lv[i]))), f(sxl + f(wl * x[i]))
        det = f(f(sum_w * sl2) - f(sl * sl))
        if det > 0:
            ts = f(f(f(sum_w * sxl) - f(sum_x * sl)) / det)
            tm = f(f(f(sl2 * sum_x) - f(sl * sxl)) / det)
            if tm > 0:
                tm, ts = f(0), f(sxl / sl2)
            e = err(ts, tm, lv)
            if e < best:
                best_l, best, scale, mn = lv, e, ts, tm
    return float(scale), float(-mn), best_l


def ref_make_qp(x: np.ndarray, w: np.ndarray, nmax: int) -> tuple[float, list[int]]:
    """ggml make_qp_quants on numpy float32 scalars."""
    n = len(x)
    mx = f(0)
    for v in x:
        mx = mx if mx > v else v
    if mx < f(1e-15):
        return 0.0, [0] * n

    def mse(isc: np.float32, clamp: bool) -> np.float32:
        sc, total = f(f(1) / isc), f(0)
        for i in range(n):
            li = nearest_int(f(isc * x[i]))
            li = min(nmax, li) if clamp else li & 0xFF
            d = f(x[i] - f(sc * f(li)))
            total = f(total + f(f(w[i] * d) * d))
        return total

    iscale = f(f(nmax) / mx)
    best = mse(iscale, clamp=False)
    for k in (-4, -3, -2, -1, 1, 2, 3, 4):
        isk = f(f(f(f(0.1) * f(k)) + f(nmax)) / mx)
        e = mse(isk, clamp=True)
        if e < best:
            best, iscale = e, isk
    ls = [min(nmax, nearest_int(f(iscale * x[i]))) for i in range(n)]
    slx = sl2 = f(0)
    for i in range(n):
        slx = f(slx + f(f(w[i] * x[i]) * f(ls[i])))
        sl2 = f(sl2 + f(f(w[i] * f(ls[i])) * f(ls[i])))
    stored = [v & 0xFF for v in ls]
    for _ in range(5):
        changed = 0
        for i in range(n):
            a = f(slx - f(f(w[i] * x[i]) * f(stored[i])))
            b = f(sl2 - f(f(w[i] * f(stored[i])) * f(stored[i])))
            if a > 0 and b > 0:
                nl = min(nmax, nearest_int(f(f(x[i] * b) / a)))
                if nl != stored[i]:
                    a2 = f(a + f(f(w[i] * x[i]) * f(nl)))
                    b2 = f(b + f(f(w[i] * f(nl)) * f(nl)))
                    if f(f(a2 * a2) * sl2) > f(f(slx * slx) * b2):
                        stored[i], slx, sl2 = nl & 0xFF, a2, b2
                        changed += 1
        if not changed:
            break
    return float(f(slx / sl2)) if sl2 > 0 else 0.0, stored


PARAMS = [
    kq.AffineParams(nmax=3, rmin=-0.5, rdelta=0.1, nstep=15, mad=True),
    kq.AffineParams(nmax=15, rmin=-1.0, rdelta=0.1, nstep=20, mad=False),
    kq.AffineParams(nmax=31, rmin=-0.9, rdelta=0.05, nstep=36, mad=False),
]
values = st.floats(min_value=-1e4, max_value=1e4, width=32)
weights = st.floats(min_value=0, max_value=1e3, width=32)


@st.composite
def subblocks(
    draw: st.DrawFn, n: int, elements: st.SearchStrategy[float] = values
) -> tuple[np.ndarray, np.ndarray]:
    """A few columns of ``n`` values with positive weights, sometimes on a coarse grid or one-signed."""
    cols = draw(st.integers(1, 4))
    x = draw(arrays(np.float32, (n, cols), elements=elements))
    if draw(st.booleans()):
        x = np.round(x / f(4)).astype(np.float32)  # repeated values and exact ties
    if draw(st.booleans()):
        x = -np.abs(x)
    w = draw(arrays(np.float32, (n, cols), elements=weights))
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: f"nmax{p.nmax}")
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fit_affine_matches_scalar_ggml(p: kq.AffineParams, data: st.DataObject) -> None:
    x, w = data.draw(subblocks(16 if p.nmax == 3 else 32))
    assert_fit_matches(x, w, p)


@pytest.mark.parametrize("p", PARAMS[1:2], ids=["nmax15"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fit_affine_matches_on_extreme_ranges(p: kq.AffineParams, data: st.DataObject) -> None:
    """Huge and tiny magnitudes, with the fast rounding path on and forced off (ggml's bit trick)."""
    x, w = data.draw(subblocks(32, st.floats(min_value=-2.0**100, max_value=2.0**100, width=32)))
    assert_fit_matches(x, w, p)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(kq, "_SAFE", f(0))
        assert_fit_matches(x, w, p)


def assert_fit_matches(x: np.ndarray, w: np.ndarray, p: kq.AffineParams) -> None:
    fit = kq.fit_affine(x, w, p, np)
    for c in range(x.shape[1]):
        with np.errstate(all="ignore"):
            scale, negmin, codes = ref_make_qkx2(x[:, c], w[:, c], p)
        assert f(fit.scale[c]).tobytes() == f(scale).tobytes()
        # The sign of a zero min depends on which of several signed zeros a scan meets first; it
        # never reaches the output bytes (it only feeds comparisons and products that round to 0).
        assert fit.negmin[c] == f(negmin)
        assert fit.codes[:, c].astype(int).tolist() == codes


@pytest.mark.parametrize("nmax", [15, 63])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_fit_pos_scales_matches_scalar_ggml(nmax: int, data: st.DataObject) -> None:
    n = 16 if nmax == 15 else 8
    cols = data.draw(st.integers(1, 4))
    x = data.draw(arrays(np.float32, (n, cols), elements=st.floats(-1, 50, width=32)))
    w = data.draw(arrays(np.float32, (n, cols), elements=weights))
    scale, codes = kq.fit_pos_scales(x, w, nmax, np)
    for c in range(cols):
        ref_scale, ref_codes = ref_make_qp(x[:, c], w[:, c], nmax)
        assert f(scale[c]).tobytes() == f(ref_scale).tobytes()
        assert codes[:, c].tolist() == ref_codes


@pytest.mark.parametrize("shape", [(32, 1), (32, 2), (16, 7), (32, 3000), (1, 5)])
def test_seq_sum0_adds_rows_in_order(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(shape) * rng.uniform(0, 1e4, shape)).astype(np.float32)
    expected = a[0].copy()
    for row in a[1:]:
        expected = expected + row
    assert kq.seq_sum0(a, np).tobytes() == expected.tobytes()
    assert kq.seq_sum0(np.asfortranarray(a), np).tobytes() == expected.tobytes()


def test_scale_min_packing_round_trips() -> None:
    rng = np.random.default_rng(2)
    sc = rng.integers(0, 64, (50, 8)).astype(np.uint8)
    mn = rng.integers(0, 64, (50, 8)).astype(np.uint8)
    packed = kq.pack_scale_min_k4(sc, mn, np)
    assert packed.shape == (50, 12)
    back_sc, back_mn = kq.unpack_scale_min_k4(packed, np)
    np.testing.assert_array_equal(back_sc, sc)
    np.testing.assert_array_equal(back_mn, mn)


def test_scale_min_packing_layout() -> None:
    """Bytes 0-3 carry scales 0-3 and the top bits of scales 4-7 (quant-spec 3.9)."""
    sc = np.array([[1, 2, 3, 4, 63, 16, 32, 0]], dtype=np.uint8)
    mn = np.array([[5, 6, 7, 8, 0, 48, 15, 17]], dtype=np.uint8)
    packed = kq.pack_scale_min_k4(sc, mn, np)[0].tolist()
    assert packed == [1 | 3 << 6, 2 | 1 << 6, 3 | 2 << 6, 4, 5, 6 | 3 << 6, 7, 8 | 1 << 6, 15, 0, 0xF0, 0x10]


@pytest.mark.parametrize("contiguous", [True, False])
def test_sums_of_negative_zeros_are_positive_zero_like_c(contiguous: bool) -> None:
    """C accumulates from +0.0, and +0.0 + -0.0 is +0.0: a scale computed from such a sum must not be -0."""
    a = np.full((8, 5), -0.0, np.float32)
    a[:, 4] = np.float32(-1.0)
    if not contiguous:
        a = np.asfortranarray(a)
    total = kq.seq_sum0(a, np)
    assert not np.signbit(total[:4]).any()
    assert (total[4] == -8.0)
