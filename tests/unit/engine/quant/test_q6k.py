"""Q6_K and the shared ``fit_sym`` (ggml make_qx_quants): byte-exact with and without an imatrix."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from gguf import GGUFReader
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.errors import UsageError
from engine.quant import dequantize, quantize
from engine.quant.kernels.kmath_qx import fit_sym
from tests.conftest import GOLDEN

F = np.float32
MAGIC = F(12582912.0)


def nearest_int(v: np.float32) -> int:
    """ggml's nearest_int, literally: add 1.5*2^23 in binary32 and read the mantissa bits."""
    t = np.array([v + MAGIC], dtype=np.float32)
    return int((t.view(np.int32)[0] & 0x007FFFFF) - 0x00400000)


def make_qx_quants(x: np.ndarray, nmax: int, w: np.ndarray) -> tuple[np.float32, list[int]]:
    """A scalar transliteration of ggml's make_qx_quants (rmse_type 1), one binary32 op at a time."""
    amax, mx = F(0), F(0)
    for v in x:
        if abs(v) > amax:
            amax, mx = abs(v), v
    if amax < F(1e-15):
        return F(0), [0] * len(x)

    def trial(iscale: np.float32) -> tuple[list[int], np.float32, np.float32]:
        levels, slx, sl2 = [], F(0), F(0)
        for xi, wi in zip(x, w):
            lev = max(-nmax, min(nmax - 1, nearest_int(iscale * xi)))
            levels.append(lev + nmax)
            slx = slx + wi * xi * F(lev)
            sl2 = sl2 + wi * F(lev) * F(lev)
        return levels, slx, sl2

    levels, slx, sl2 = trial(F(-nmax) / mx)
    scale = slx / sl2 if sl2 != 0 else F(0)
    best = scale * slx
    for k in [*range(-9, 0), *range(1, 10)]:
        cand, slx, sl2 = trial(-(F(nmax) + F(0.1) * F(k)) / mx)
        if sl2 > 0 and slx * slx > best * sl2:
            levels, scale = cand, slx / sl2
            best = scale * slx
    return scale, levels


def golden_importance() -> dict[str, np.ndarray]:
    """Per-column weights from the golden imatrix.gguf: f32(in_sum2 / count), 1.0 where count is 0."""
    tensors = {t.name: np.array(t.data) for t in GGUFReader(GOLDEN / "imatrix" / "imatrix.gguf").tensors}
    out = {}
    for name, sums in tensors.items():
        if name.endswith(".in_sum2"):
            base = name.removesuffix(".in_sum2")
            counts = np.array([round(float(c)) for c in tensors[base + ".counts"].ravel()], dtype=np.float32)
            sums = sums.reshape(counts.size, -1)
            qw = sums / np.where(counts == 0, F(1), counts)[:, None]
            out[base] = np.where(counts[:, None] == 0, F(1), qw).astype(np.float32).ravel()
    return out


def spec_v2() -> np.ndarray:
    """quant-spec section 8's V2: 256 values from a 31-bit LCG, as one row."""
    s, values = 1, []
    for _ in range(256):
        s = (1103515245 * s + 12345) % 2**31
        values.append((((s >> 8) % 2001) - 1000) / 256)
    return np.array([values], dtype=np.float32)


group_values = st.one_of(
    st.floats(-1e4, 1e4, width=32),
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 3.0, 1e-16, -1e-20, 1e-38, 2e-15]),
)
groups = hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.just(16)), elements=group_values)


@settings(max_examples=60, deadline=None)
@given(groups, st.sampled_from([4, 8, 32]), st.booleans(), st.data())
def test_fit_sym_matches_scalar_make_qx_quants(x: np.ndarray, nmax: int, squared: bool, data: st.DataObject) -> None:
    if squared:
        w = x * x
    else:
        w = data.draw(hnp.arrays(np.float32, x.shape, elements=st.floats(0, 100, width=32)))
    with np.errstate(all="ignore"):
        scale, codes = fit_sym(np.ascontiguousarray(x.T), np.ascontiguousarray(w.T), nmax, np)
        expected = [make_qx_quants(x[g], nmax, w[g]) for g in range(x.shape[0])]
    np.testing.assert_array_equal(codes.T, np.array([e[1] for e in expected], dtype=np.uint8))
    np.testing.assert_array_equal(scale.view(np.uint32), np.array([e[0] for e in expected], dtype=F).view(np.uint32))


@pytest.mark.parametrize(
    ("use_imatrix", "digest", "head"),
    [
        (False, "79615dae4bf7fa71", "7f910dca1abf3bcffb780fdf4bd033c0"),
        (True, "4ac0b22fe147bdf2", "7f910dca1abf3bcffb780fdf4bd033c0"),
    ],
)
def test_spec_vector_v2(use_imatrix: bool, digest: str, head: str) -> None:
    qw = np.array([1 + j % 7 for j in range(256)], dtype=np.float32) if use_imatrix else None
    out = quantize(spec_v2(), "Q6_K", imatrix=qw)
    assert out.shape == (1, 210)
    assert hashlib.sha256(out.tobytes()).hexdigest()[:16] == digest
    assert out.tobytes()[:16].hex() == head


def test_imatrix_bytes_match_llama_quantize() -> None:
    importance = golden_importance()
    reference = {t.name: np.array(t.data) for t in GGUFReader(GOLDEN / "imatrix" / "Q6_K.gguf").tensors}
    for t in GGUFReader(GOLDEN / "kernels" / "input-f32.gguf").tensors:
        x = np.array(t.data)
        ours = quantize(x, "Q6_K", imatrix=importance[t.name], name=t.name)
        ref = reference[t.name].view(np.uint8).reshape(ours.shape)
        bad = np.flatnonzero((ours != ref).any(axis=1))
        assert bad.size == 0, f"{t.name}: rows {bad[:10]} differ"


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-20, -1e-38])
def test_blocks_below_group_eps_are_all_zero_bytes(value: float) -> None:
    x = np.full((2, 512), value, dtype=np.float32)
    assert not quantize(x, "Q6_K").any()
    assert not dequantize(quantize(x, "Q6_K"), "Q6_K", 512).any()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_blocks=st.integers(1, 4),
    log_scale=st.floats(-2, 3),
    sparsity=st.floats(0, 0.9),
    with_imatrix=st.booleans(),
)
def test_round_trip_error_is_bounded(
    seed: int, n_blocks: int, log_scale: float, sparsity: float, with_imatrix: bool
) -> None:
    """Every value comes back within 10% of its block's largest magnitude (6-bit codes, 8-bit scales)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, 256 * n_blocks)) * 10**log_scale * (rng.random((2, 256 * n_blocks)) >= sparsity))
    x = x.astype(np.float32)
    qw = rng.uniform(0.5, 2.0, 256 * n_blocks).astype(np.float32) if with_imatrix else None
    y = dequantize(quantize(x, "Q6_K", imatrix=qw), "Q6_K", x.shape[1])
    err = np.abs(y - x).reshape(-1, 256).max(axis=1)
    amax = np.abs(x).reshape(-1, 256).max(axis=1)
    assert np.all(err <= 0.1 * amax + 1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2000).filter(lambda n: n % 256 != 0))
def test_rows_not_a_multiple_of_256_are_refused(n_per_row: int) -> None:
    with pytest.raises(UsageError):
        quantize(np.ones((1, n_per_row), dtype=np.float32), "Q6_K")
