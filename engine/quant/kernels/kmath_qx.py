"""Shared math of the symmetric K-quants (Q3_K, Q6_K): ggml's ``make_qx_quants`` and ``make_q3_quants``.

Every array here is *element-major*: ``x[i]`` holds element ``i`` of every group at once, shape
(n, groups). One step of ggml's per-element C loop is then one vector operation over all groups (and, in
``fit_sym``, over all 19 candidate scales), and every sum is a left-to-right binary32 accumulation over
the element index, exactly like the C loop (quant-spec 2.5, 3.6 H-B and H-C).

Like the C code, these routines let binary32 overflow to inf and divide by zero where the result is then
masked; kernels call them under ``np.errstate(all="ignore")`` so numpy stays quiet about it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.kernels.numeric import MAGIC, rne

GROUP_MAX_EPS = 1e-15  # ggml's GROUP_MAX_EPS: a group whose largest |x| is below this is all zero

# fit_sym tries is0 = -nmax/m first, then -(nmax + 0.1*k)/m for k = -9..-1, 1..9 in that order.
_CANDIDATE_STEPS = (0, *range(-9, 0), *range(1, 10))


def signed_absmax(x: Any, xp: ModuleType) -> Any:
    """The signed element with the first strictly largest |x| over axis 0 (+0.0 when none beats 0).

    A plain ``max`` would propagate NaN; ggml's ``if (ax > amax)`` skips it, and so does this scan.
    """
    amax = xp.zeros(x.shape[1:], dtype=xp.float32)
    best = xp.zeros(x.shape[1:], dtype=xp.float32)
    for i in range(x.shape[0]):
        a = xp.abs(x[i])
        hit = a > amax
        amax = xp.where(hit, a, amax)
        best = xp.where(hit, x[i], best)
    return best


def seq_sum0(x: Any, xp: ModuleType) -> Any:
    """Left-to-right binary32 sum over axis 0, starting from +0.0 like a C accumulator."""
    acc = xp.zeros(x.shape[1:], dtype=xp.float32)
    for i in range(x.shape[0]):
        acc = acc + x[i]
    return acc


def _safe(v: Any, ok: Any, xp: ModuleType) -> Any:
    """``v`` where ``ok``, else 1: a denominator that never raises divide-by-zero warnings."""
    return xp.where(ok, v, xp.float32(1))


def _candidate_iscales(m: Any, nmax: int, xp: ModuleType) -> Any:
    """(19, groups) inverse scales f32(-(nmax + f32(0.1*k)) / m) in ggml's trial order."""
    tenth = np.float32(0.1)
    num = np.array([-(np.float32(nmax) + tenth * np.float32(k)) for k in _CANDIDATE_STEPS], dtype=np.float32)
    return xp.asarray(num)[:, None] / m[None, :]


def _candidate_sums(x: Any, w: Any, iscales: Any, nmax: int, xp: ModuleType) -> tuple[Any, Any]:
    """Slx = sseq(w*x*l) and Sl2 = sseq(w*l*l) for every candidate, l = clamp(rne(is*x), -nmax, nmax-1).

    ``is*x`` stays within +-(nmax+1) because |x| <= |m| and |m| >= GROUP_MAX_EPS, so rounding by adding and
    subtracting 1.5*2^23 equals ggml's nearest_int and keeps l as float32 (no int round trip).
    """
    slx = xp.zeros(iscales.shape, dtype=xp.float32)
    sl2 = xp.zeros(iscales.shape, dtype=xp.float32)
    lev = xp.empty(iscales.shape, dtype=xp.float32)
    tmp = xp.empty(iscales.shape, dtype=xp.float32)
    magic = xp.float32(MAGIC)
    for i in range(x.shape[0]):
        xp.multiply(iscales, x[i], out=lev)
        xp.add(lev, magic, out=lev)
        xp.subtract(lev, magic, out=lev)
        xp.clip(lev, -nmax, nmax - 1, out=lev)
        xp.multiply(lev, w[i] * x[i], out=tmp)
        xp.add(slx, tmp, out=slx)
        xp.multiply(lev, w[i], out=tmp)
        xp.multiply(tmp, lev, out=tmp)
        xp.add(sl2, tmp, out=sl2)
    return slx, sl2


def _pick_candidate(slx: Any, sl2: Any, iscales: Any, xp: ModuleType) -> tuple[Any, Any]:
    """ggml's sequential choice among the candidates: returns (scale, winning inverse scale)."""
    nonzero = sl2[0] != 0
    scale = xp.where(nonzero, slx[0] / _safe(sl2[0], nonzero, xp), xp.float32(0))
    best = scale * slx[0]
    best_is = iscales[0]
    for c in range(1, iscales.shape[0]):
        a, b = slx[c], sl2[c]
        pos = b > 0
        take = pos & (a * a > best * b)
        s_c = a / _safe(b, pos, xp)
        scale = xp.where(take, s_c, scale)
        best = xp.where(take, s_c * a, best)
        best_is = xp.where(take, iscales[c], best_is)
    return scale, best_is


def fit_sym(x: Any, w: Any, nmax: int, xp: ModuleType) -> tuple[Any, Any]:
    """ggml ``make_qx_quants(n, nmax, x, L, rmse_type=1, w)`` for every group (quant-spec 3.6 H-B).

    Args:
        x: element-major float32 values, shape (n, groups).
        w: element-major float32 weights of the same shape (``x*x`` when there is no imatrix).
        nmax: half the code range; codes come back in 0..2*nmax-1.
        xp: numpy or CuPy.

    Returns:
        (scale float32 (groups,), codes uint8 (n, groups)); a group whose largest |x| is below
        GROUP_MAX_EPS gets scale 0 and codes 0 (not nmax).
    """
    m = signed_absmax(x, xp)
    tiny = xp.abs(m) < xp.float32(GROUP_MAX_EPS)
    iscales = _candidate_iscales(_safe(m, ~tiny, xp), nmax, xp)
    slx, sl2 = _candidate_sums(x, w, iscales, nmax, xp)
    scale, best_is = _pick_candidate(slx, sl2, iscales, xp)
    codes = xp.clip(rne(best_is[None, :] * x, xp), -nmax, nmax - 1) + nmax
    codes = xp.where(tiny[None, :], 0, codes).astype(xp.uint8)
    return xp.where(tiny, xp.float32(0), scale), codes


def fit_q3(x: Any, nmax: int, xp: ModuleType) -> tuple[Any, Any]:
    """ggml ``make_q3_quants(n, nmax, x, L, do_rmse=true)`` for every group (quant-spec 3.6 H-C).

    Weights are ``x*x``. A group that made no change in a sweep is at a fixed point (sweeping it again
    would change nothing), which is ggml's per-group early exit; so after the first sweep only the
    groups that changed are gathered and swept again, at most 5 sweeps in all.

    Returns:
        (scale float32 (groups,), codes uint8 (n, groups)) with codes in 0..2*nmax-1 (0 for tiny groups).
    """
    m = signed_absmax(x, xp)
    tiny = xp.abs(m) < xp.float32(GROUP_MAX_EPS)
    iscale = xp.float32(-nmax) / _safe(m, ~tiny, xp)
    w = x * x
    wx = w * x
    lev = xp.clip(rne(iscale[None, :] * x, xp), -nmax, nmax - 1).astype(xp.float32)
    slx = seq_sum0(wx * lev, xp)
    sl2 = seq_sum0(w * lev * lev, xp)
    slx, sl2, changed = _q3_sweep(x, w, wx, lev, slx, sl2, nmax, xp)
    active = xp.flatnonzero(changed)
    for _sweep in range(4):
        if active.size == 0:
            break
        sub_lev = lev[:, active]
        sub_slx, sub_sl2, changed = _q3_sweep(
            x[:, active], w[:, active], wx[:, active], sub_lev, slx[active], sl2[active], nmax, xp
        )
        lev[:, active], slx[active], sl2[active] = sub_lev, sub_slx, sub_sl2
        active = active[changed]
    nonzero = sl2 > 0
    scale = xp.where(nonzero & ~tiny, slx / _safe(sl2, nonzero, xp), xp.float32(0))
    codes = xp.where(tiny[None, :], 0, lev + nmax).astype(xp.uint8)
    return scale, codes


def _q3_sweep(
    x: Any, w: Any, wx: Any, lev: Any, slx: Any, sl2: Any, nmax: int, xp: ModuleType
) -> tuple[Any, Any, Any]:
    """One make_q3_quants sweep over the elements, in order; updates ``lev`` in place.

    Each element tries the level that best fits the others, f32(f32(x*b)/a) rounded with the literal
    nearest_int (the quotient can be huge when ``a`` is tiny). Where ``a <= 0`` the quotient is garbage
    but never taken. Returns (Slx, Sl2, changed-mask).
    """
    changed = xp.zeros(x.shape[1:], dtype=bool)
    magic = xp.float32(MAGIC)
    for i in range(x.shape[0]):
        li = lev[i]
        a = slx - wx[i] * li
        b = sl2 - w[i] * li * li
        bits = (x[i] * b / a + magic).view(xp.int32)
        new = xp.minimum(xp.maximum((bits & 0x007FFFFF) - 0x00400000, -nmax), nmax - 1).astype(xp.float32)
        a2 = a + wx[i] * new
        b2 = b + w[i] * new * new
        take = (a > 0) & (new != li) & (b2 > 0) & (a2 * a2 * sl2 > slx * slx * b2)
        slx = xp.where(take, a2, slx)
        sl2 = xp.where(take, b2, sl2)
        lev[i] = xp.where(take, new, li)
        changed |= take
    return slx, sl2, changed


def imatrix_weights(blocks: Any, qw: Any, n_rows: int, xp: ModuleType) -> Any:
    """Q3_K's per-element weights f32(qw * sqrt(f32(sigma2 + f32(x*x)))) (quant-spec 4.3).

    ``blocks`` is block-major float32 (n_blocks, 256) and ``qw`` the per-column importance (n_per_row,);
    sigma2 = f32(f32(2*sseq(x^2)) / 256) per super-block. Returns block-major (n_blocks, 256).
    """
    sq = blocks * blocks
    sumx2 = seq_sum0(sq.T, xp)
    sigma2 = xp.float32(2) * sumx2 / xp.float32(256)
    qw_blocks = xp.tile(qw.reshape(-1, 256), (n_rows, 1))
    return qw_blocks * xp.sqrt(sigma2[:, None] + sq)
