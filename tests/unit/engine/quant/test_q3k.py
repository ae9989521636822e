"""Q3_K and the shared ``fit_q3`` (ggml make_q3_quants): byte-exact with and without an imatrix."""

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
from engine.quant.kernels import kmath_qx
from engine.quant.kernels.kmath_qx import fit_q3, seq_sum0, signed_absmax
from engine.quant.kernels.q3k import _pack_scales, _unpack_scales
from tests.conftest import GOLDEN
from tests.unit.engine.quant.test_q6k import golden_importance, groups, nearest_int, spec_v2

F = np.float32


def make_q3_quants(x: np.ndarray, nmax: int) -> tuple[np.float32, list[int]]:
    """A scalar transliteration of ggml's make_q3_quants (do_rmse = true), one binary32 op at a time."""
    amax, mx = F(0), F(0)
    for v in x:
        if abs(v) > amax:
            amax, mx = abs(v), v
    if amax < F(1e-15):
        return F(0), [0] * len(x)
    iscale = F(-nmax) / mx
    levels, slx, sl2 = [], F(0), F(0)
    for xi in x:
        lev = max(-nmax, min(nmax - 1, nearest_int(iscale * xi)))
        levels.append(lev)
        w = xi * xi
        slx = slx + w * xi * F(lev)
        sl2 = sl2 + w * F(lev) * F(lev)
    for _ in range(5):
        changed = 0
        for i, xi in enumerate(x):
            w = xi * xi
            a = slx - w * xi * F(levels[i])
            if a > 0:
                b = sl2 - w * F(levels[i]) * F(levels[i])
                new = max(-nmax, min(nmax - 1, nearest_int(xi * b / a)))
                if new != levels[i]:
                    a = a + w * xi * F(new)
                    b = b + w * F(new) * F(new)
                    if b > 0 and a * a * sl2 > slx * slx * b:
                        levels[i], slx, sl2 = new, a, b
                        changed += 1
        if not changed:
            break
    return (slx / sl2 if sl2 > 0 else F(0)), [lev + nmax for lev in levels]


@settings(max_examples=60, deadline=None)
@given(groups)
def test_fit_q3_matches_scalar_make_q3_quants(x: np.ndarray) -> None:
    with np.errstate(all="ignore"):
        scale, codes = fit_q3(np.ascontiguousarray(x.T), 4, np)
        expected = [make_q3_quants(x[g], 4) for g in range(x.shape[0])]
    np.testing.assert_array_equal(codes.T, np.array([e[1] for e in expected], dtype=np.uint8))
    np.testing.assert_array_equal(scale.view(np.uint32), np.array([e[0] for e in expected], dtype=F).view(np.uint32))


# Groups (found by search over random data) whose walk needs 3, 4 and 5 sweeps, one still changing
# when ggml's 5-sweep limit stops it, and two whose result depends on visiting the element right after
# a change before any later one.
LONG_WALKS = np.array([
    [1.01889169216156, 6.12135648727417, -1.247445834451355e-05, 0.8228068947792053, -2.6475062370300293, 0.08850187063217163, -7.243752956390381, 0.32325753569602966, 1.1978368759155273, -0.6072394251823425, 0.0018677441403269768, 4.668243885040283, 0.009316121228039265, 0.06318693608045578, 0.001577868009917438, -0.0014317063614726067],
    [-2.399244546890259, -0.008013073354959488, 0.00716895516961813, -0.11647728830575943, -1.1050636768341064, -1.3002592325210571, 1.2741971015930176, -1.754381775856018, -0.002035905607044697, -1.116892695426941, 0.27290186285972595, -1.5951732397079468, -0.12158017605543137, -2.1596739292144775, 2.2425920963287354, -0.34073618054389954],
    [0.24584007263183594, -1.878031849861145, -0.7045461535453796, 1.8380829095840454, 0.15625861287117004, 1.172701358795166, 1.262859582901001, -0.8774858713150024, -0.018064897507429123, 1.4055346250534058, -0.9716466069221497, -1.4127757549285889, 0.045194171369075775, 1.2408545017242432, 0.7233301997184753, -0.012258990667760372],
    [-1.073276162147522, -0.5872771739959717, 1.2833079099655151, -0.8485870957374573, 0.31057870388031006, 0.7930971384048462, -0.19222873449325562, 0.4017968475818634, -1.3445563316345215, 0.23982304334640503, -0.5815192461013794, -1.266511082649231, 0.9400972723960876, 0.8532878756523132, -0.005236830562353134, 0.8406477570533752],
    [-0.2303188145160675, -0.4011480212211609, -1.2017531394958496, -1.4025871753692627, -0.7329951524734497, 0.30435314774513245, 2.0887303352355957, 1.0661542415618896, 1.8367366790771484, 0.4993777573108673, -0.07234872877597809, -1.3096897602081299, 0.018131162971258163, -2.128220796585083, -0.28349483013153076, 1.6453782320022583],
    [1.5853817462921143, -1.2926384210586548, 0.3237413465976715, 0.774482011795044, -0.1402396410703659, -0.46705523133277893, -0.7649532556533813, -1.5902842283248901, 1.496586561203003, 1.4498156309127808, 0.6072455644607544, -1.1219892501831055, 0.22955448925495148, 1.181174397468567, 0.6085183024406433, 0.785835862159729],
], dtype=np.float32)  # fmt: skip


def _awkward_groups(n_groups: int, seed: int) -> np.ndarray:
    """(n_groups, 16) groups that keep make_q3_quants busy: heavy tails, ties, zeros, huge and tiny
    magnitudes, NaN and inf, so that some groups change levels several times over several sweeps."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_groups, 16)) ** 3
    x *= 10.0 ** rng.integers(-20, 20, (n_groups, 1))
    kind = rng.integers(0, 6, n_groups)
    x[kind == 1] = rng.integers(-3, 4, ((kind == 1).sum(), 16)) * 0.5  # ties of both signs
    x[kind == 2] = np.where(rng.random(((kind == 2).sum(), 16)) < 0.7, 0.0, x[kind == 2])
    special = rng.random(x.shape) < 0.01
    x[special & (kind == 3)[:, None]] = np.nan
    x[special & (kind == 4)[:, None]] = np.inf
    return x.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_q3_matches_scalar_on_many_groups(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of groups at once, in several first-sweep slices: every round of the batched sweeps."""
    monkeypatch.setattr(kmath_qx, "Q3_SLICE", 97)
    x = np.concatenate([_awkward_groups(400, seed), LONG_WALKS])
    with np.errstate(all="ignore"):
        scale, codes = fit_q3(np.ascontiguousarray(x.T), 4, np)
        expected = [make_q3_quants(g, 4) for g in x]
    np.testing.assert_array_equal(codes.T, np.array([e[1] for e in expected], dtype=np.uint8))
    np.testing.assert_array_equal(scale.view(np.uint32), np.array([e[0] for e in expected], dtype=F).view(np.uint32))


def test_signed_absmax_is_the_first_strictly_largest() -> None:
    x = _awkward_groups(600, 3)
    x[:5] = [[-2.0, 2.0] * 8, [2.0, -2.0] * 8, [-0.0] * 16, [np.nan, -3.0] * 8, [0.0, -0.0] * 8]
    expected = []
    for g in x:
        amax, best = F(0), F(0)
        for v in g:
            if abs(v) > amax:
                amax, best = abs(v), v
        expected.append(best)
    got = signed_absmax(np.ascontiguousarray(x.T), np)
    assert got.tobytes() == np.array(expected, dtype=F).tobytes()


@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 40)), elements=st.floats(-1e3, 1e3, width=32)))
def test_seq_sum0_adds_left_to_right(x: np.ndarray) -> None:
    expected = []
    for column in x.T:
        acc = F(0)
        for v in column:
            acc = acc + v
        expected.append(acc)
    np.testing.assert_array_equal(seq_sum0(x, np), np.array(expected, dtype=F))


@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(16)), elements=st.integers(0, 63)))
def test_scale_codes_pack_into_12_bytes_and_back(codes: np.ndarray) -> None:
    packed = _pack_scales(codes, np)
    assert packed.shape == (codes.shape[0], 12)
    np.testing.assert_array_equal(_unpack_scales(packed, np), codes)


@pytest.mark.parametrize(
    ("use_imatrix", "digest", "head"),
    [
        (False, "bb94cc98dda53a96", "be0fa515f76fbd26362163b18c700ba7"),
        (True, "12165b569821fb15", "be0fa511f76bbd26362163b18c700ba3"),
    ],
)
def test_spec_vector_v2(use_imatrix: bool, digest: str, head: str) -> None:
    qw = np.array([1 + j % 7 for j in range(256)], dtype=np.float32) if use_imatrix else None
    out = quantize(spec_v2(), "Q3_K", imatrix=qw)
    assert out.shape == (1, 110)
    assert hashlib.sha256(out.tobytes()).hexdigest()[:16] == digest
    assert out.tobytes()[:16].hex() == head


def test_imatrix_bytes_match_llama_quantize() -> None:
    importance = golden_importance()
    reference = {t.name: np.array(t.data) for t in GGUFReader(GOLDEN / "imatrix" / "Q3_K.gguf").tensors}
    for t in GGUFReader(GOLDEN / "kernels" / "input-f32.gguf").tensors:
        x = np.array(t.data)
        ours = quantize(x, "Q3_K", imatrix=importance[t.name], name=t.name)
        ref = reference[t.name].view(np.uint8).reshape(ours.shape)
        bad = np.flatnonzero((ours != ref).any(axis=1))
        assert bad.size == 0, f"{t.name}: rows {bad[:10]} differ"


@pytest.mark.parametrize("use_imatrix", [False, True])
@pytest.mark.parametrize("value", [0.0, -0.0, 1e-20])
def test_blocks_below_group_eps_are_all_zero_bytes(value: float, use_imatrix: bool) -> None:
    x = np.full((2, 512), value, dtype=np.float32)
    qw = np.ones(512, dtype=np.float32) if use_imatrix else None
    assert not quantize(x, "Q3_K", imatrix=qw).any()


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
    """Every value comes back within half of its block's largest magnitude (3-bit codes, 6-bit scales)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, 256 * n_blocks)) * 10**log_scale * (rng.random((2, 256 * n_blocks)) >= sparsity))
    x = x.astype(np.float32)
    qw = rng.uniform(0.5, 2.0, 256 * n_blocks).astype(np.float32) if with_imatrix else None
    y = dequantize(quantize(x, "Q3_K", imatrix=qw), "Q3_K", x.shape[1])
    err = np.abs(y - x).reshape(-1, 256).max(axis=1)
    amax = np.abs(x).reshape(-1, 256).max(axis=1)
    assert np.all(err <= 0.5 * amax + 1e-6)
    rms = np.sqrt(np.mean((y - x).astype(np.float64) ** 2))
    assert rms <= 0.3 * np.sqrt(np.mean(x.astype(np.float64) ** 2))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 2000).filter(lambda n: n % 256 != 0))
def test_rows_not_a_multiple_of_256_are_refused(n_per_row: int) -> None:
    with pytest.raises(UsageError):
        quantize(np.ones((1, n_per_row), dtype=np.float32), "Q3_K")
