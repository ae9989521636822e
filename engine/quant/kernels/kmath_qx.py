"""Shared math of the symmetric K-quants (Q3_K, Q6_K): ggml's ``make_qx_quants`` and ``make_q3_quants``.

Every array here is *element-major*: ``x[i]`` holds element ``i`` of every group at once, shape
(n, groups). One step of ggml's per-element C loop is then one vector operation over all groups (and, in
``fit_sym``, over all 19 candidate scales), and every sum is a left-to-right binary32 accumulation over
the element index, exactly like the C loop (quant-spec 2.5, 3.6 H-B and H-C).

Like the C code, these routines let binary32 overflow to inf and divide by zero where the result is then
masked; kernels call them under ``np.errstate(all="ignore")`` so numpy stays quiet about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.kernels.numeric import MAGIC, rne

GROUP_MAX_EPS = 1e-15  # ggml's GROUP_MAX_EPS: a group whose largest |x| is below this is all zero

# Groups per vector pass of fit_q3's first sweep on a CPU: its (n, groups) temporaries stay in L2.
Q3_SLICE = 4096

# fit_sym tries is0 = -nmax/m first, then -(nmax + 0.1*k)/m for k = -9..-1, 1..9 in that order.
_CANDIDATE_STEPS = (0, *range(-9, 0), *range(1, 10))


def signed_absmax(x: Any, xp: ModuleType) -> Any:
    """The signed element with the first strictly largest |x| over axis 0 of (n, groups); +0.0 if none beats 0.

    Column max and min decide it unless they tie in magnitude (both signs present) or hold a NaN; only
    those columns replay ggml's ``if (ax > amax)`` scan, which skips NaN where a plain max would spread it.
    """
    hi, lo = xp.max(x, axis=0), xp.min(x, axis=0)
    neg = -lo
    zero = (hi == 0) & (lo == 0)
    best = xp.where(zero, xp.float32(0), xp.where(hi > neg, hi, lo))
    odd = xp.flatnonzero(~((hi > neg) | (neg > hi) | zero))
    if odd.size:
        best[odd] = _scan_absmax(x[:, odd], xp)
    return best


def _scan_absmax(x: Any, xp: ModuleType) -> Any:
    """ggml's literal first-strictly-largest scan over axis 0."""
    amax = xp.zeros(x.shape[1:], dtype=xp.float32)
    best = xp.zeros(x.shape[1:], dtype=xp.float32)
    for i in range(x.shape[0]):
        a = xp.abs(x[i])
        hit = a > amax
        amax = xp.where(hit, a, amax)
        best = xp.where(hit, x[i], best)
    return best


def seq_sum0(x: Any, xp: ModuleType) -> Any:
    """Left-to-right binary32 sum over axis 0, starting from +0.0 like a C accumulator.

    numpy reduces the leading axis of a C-contiguous (n, groups) array row by row, in order; starting
    from the first row instead of +0.0 can only differ in giving -0.0 for an all -0.0 column, which the
    final ``+ 0.0`` turns into the C result.
    """
    if xp is np and x.ndim == 2 and x.shape[1] >= 2 and x.flags.c_contiguous:
        return np.add.reduce(x, axis=0) + np.float32(0)
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

    Weights are ``x*x``. Most groups change nothing in their first sweep, which ends ggml's loop for
    them; ``_q3_start`` finds them in one vector pass over every element (slice by slice, to stay in
    cache) and only the others go through ``_q3_refine``'s sweeps. ``x`` may be a transposed view of
    group-major data: each slice is made contiguous on its own.

    Returns:
        (scale float32 (groups,), codes uint8 (n, groups)) with codes in 0..2*nmax-1 (0 for tiny groups).
    """
    n, groups = x.shape
    codes = xp.empty((n, groups), dtype=xp.uint8)
    slx, sl2 = xp.empty(groups, dtype=xp.float32), xp.empty(groups, dtype=xp.float32)
    tiny = xp.empty(groups, dtype=bool)
    moves = []
    step = Q3_SLICE if xp is np else groups
    for s in range(0, groups, step):
        part = slice(s, s + step)
        tiny[part], lev, slx[part], sl2[part], first = _q3_start(xp.ascontiguousarray(x[:, part]), nmax, xp)
        codes[:, part] = xp.add(lev, xp.float32(nmax), out=lev).astype(xp.uint8)
        moves.append(first.shifted(s))
    first = _FirstMoves.join(moves, xp)
    if first.cols.size:
        sums = _Q3Sums(first.lev, first.slx, first.sl2)
        _q3_refine(xp.take(x, first.cols, axis=1), sums, first.k + 1, nmax, xp)
        codes[:, first.cols] = xp.add(sums.lev, xp.float32(nmax), out=sums.lev).astype(xp.uint8)
        slx[first.cols], sl2[first.cols] = sums.slx, sums.sl2
    nonzero = sl2 > 0
    scale = xp.where(nonzero & ~tiny, slx / _safe(sl2, nonzero, xp), xp.float32(0))
    if bool(xp.any(tiny)):
        codes[:, tiny] = 0
    return scale, codes


@dataclass(frozen=True, slots=True)
class _FirstMoves:
    """The groups ``cols`` whose first sweep changes a level, right after that first change: it was at
    element ``k``; ``lev`` (n, groups) holds their levels and ``slx``, ``sl2`` their sums."""

    cols: Any
    k: Any
    lev: Any
    slx: Any
    sl2: Any

    def shifted(self, offset: int) -> "_FirstMoves":
        return _FirstMoves(self.cols + offset, self.k, self.lev, self.slx, self.sl2)

    @staticmethod
    def join(parts: list["_FirstMoves"], xp: ModuleType) -> "_FirstMoves":
        if len(parts) == 1:
            return parts[0]
        cat = [xp.concatenate([getattr(p, f) for p in parts]) for f in ("cols", "k", "slx", "sl2")]
        lev = xp.concatenate([p.lev for p in parts], axis=1)
        return _FirstMoves(cat[0], cat[1], lev, cat[2], cat[3])


def _q3_start(x: Any, nmax: int, xp: ModuleType) -> tuple[Any, Any, Any, Any, _FirstMoves]:
    """Starting levels and sums of make_q3_quants, and which groups the first sweep would change.

    Until a group's first change its sums and levels are the starting ones, so judging every element
    against the starting state at once finds exactly the groups the sequential sweep would change.
    Only a few elements can get a new level with a positive ``a``: nearest_int(q) equals the level l
    whenever the computed |q - l| is below 1/2 (rounding is monotonic, so the exact one is too), and
    the rest of the test runs on the others.
    Returns (tiny, levels, Slx, Sl2, the first changes).
    """
    m = signed_absmax(x, xp)
    tiny = xp.abs(m) < xp.float32(GROUP_MAX_EPS)
    iscale = xp.float32(-nmax) / _safe(m, ~tiny, xp)
    w = x * x
    wx = w * x
    # |iscale*x| <= nmax (|x| <= |m|) unless it is NaN, which makes Slx NaN: then round literally.
    lev, slx, sl2, wxl, wll = _q3_sums(w, wx, _fast_round_sym(iscale[None, :] * x, nmax, xp), xp)
    if bool(xp.any(xp.isnan(slx))):
        lev, slx, sl2, wxl, wll = _q3_sums(w, wx, _literal_round_sym(iscale[None, :] * x, nmax, xp), xp)
    a = xp.subtract(slx[None, :], wxl, out=wxl)  # the in-place steps keep the working set in cache
    b = xp.subtract(sl2[None, :], wll, out=wll)
    q = xp.multiply(x, b)
    xp.divide(q, a, out=q)
    gap = q - lev
    xp.abs(gap, out=gap)
    far = xp.less(gap, xp.float32(0.5))
    xp.invert(far, out=far)
    xp.logical_and(far, a > 0, out=far)
    flat = xp.flatnonzero(far)
    col = flat % x.shape[1]
    new = _literal_round_sym(q.reshape(-1)[flat], nmax, xp)
    a2 = a.reshape(-1)[flat] + wx.reshape(-1)[flat] * new
    b2 = b.reshape(-1)[flat] + w.reshape(-1)[flat] * new * new
    s1, s2 = slx[col], sl2[col]
    take = xp.flatnonzero((new != lev.reshape(-1)[flat]) & (b2 > 0) & (a2 * a2 * s2 > s1 * s1 * b2))
    cols, first = xp.unique(col[take], return_index=True)  # the element order makes the first one first
    at = take[first]
    k = flat[at] // x.shape[1]
    moved = lev.take(cols, axis=1)
    moved[k, xp.arange(cols.size)] = new[at]
    return tiny, lev, slx, sl2, _FirstMoves(cols, k, moved, a2[at], b2[at])


def _q3_sums(w: Any, wx: Any, lev: Any, xp: ModuleType) -> tuple[Any, Any, Any, Any, Any]:
    """(levels, Slx, Sl2, w*x*l, w*l*l) for starting levels ``lev``."""
    wxl = wx * lev
    wll = w * lev
    xp.multiply(wll, lev, out=wll)
    return lev, seq_sum0(wxl, xp), seq_sum0(wll, xp), wxl, wll


def _literal_round_sym(v: Any, nmax: int, xp: ModuleType) -> Any:
    """clamp(nearest_int(v), -nmax, nmax-1) as float32, with ggml's literal bit trick for any v."""
    bits = (v + xp.float32(MAGIC)).view(xp.int32)
    return xp.clip((bits & 0x007FFFFF) - 0x00400000, -nmax, nmax - 1).astype(xp.float32)


def _fast_round_sym(v: Any, nmax: int, xp: ModuleType) -> Any:
    """``_literal_round_sym`` for |v| < 2^22: adding and subtracting 1.5*2^23 rounds like nearest_int."""
    magic = xp.float32(MAGIC)
    r = v + magic
    xp.subtract(r, magic, out=r)
    return xp.clip(r, xp.float32(-nmax), xp.float32(nmax - 1), out=r)


def round_sym(v: Any, nmax: int, xp: ModuleType) -> Any:
    """clamp(nearest_int(v), -nmax, nmax-1) as float32, exact for any v: the cheap rounding unless a value
    is NaN, infinite or at least 2^22 in magnitude, then the literal bit trick."""
    if v.size and not bool(xp.max(xp.abs(v)) < xp.float32(1 << 22)):  # a NaN fails this too
        return _literal_round_sym(v, nmax, xp)
    return _fast_round_sym(v, nmax, xp)


@dataclass(slots=True)
class _Q3Sums:
    """Levels (n, groups) and running sums (groups,) of the groups being swept."""

    lev: Any
    slx: Any
    sl2: Any

    def pick(self, cols: Any) -> "_Q3Sums":
        return _Q3Sums(self.lev.take(cols, axis=1), self.slx[cols], self.sl2[cols])

    def put(self, cols: Any, other: "_Q3Sums", at: Any) -> None:
        self.lev[:, cols], self.slx[cols], self.sl2[cols] = other.lev[:, at], other.slx[at], other.sl2[at]


def _q3_candidate(x: Any, w: Any, wx: Any, li: Any, slx: Any, sl2: Any, nmax: int, xp: ModuleType) -> Any:
    """make_q3_quants' step for elements ``x`` at level ``li``: (take, Slx', Sl2', new level).

    The new level is f32(f32(x*b)/a) rounded with the literal nearest_int (the quotient can be huge when
    ``a`` is tiny). Where ``a <= 0`` the quotient is garbage but never taken.
    """
    a = slx - wx * li
    b = sl2 - w * li * li
    new = _literal_round_sym(x * b / a, nmax, xp)
    a2 = a + wx * new
    b2 = b + w * new * new
    take = (a > 0) & (new != li) & (b2 > 0) & (a2 * a2 * sl2 > slx * slx * b2)
    return take, a2, b2, new


def _q3_refine(x: Any, out: _Q3Sums, pos: Any, nmax: int, xp: ModuleType) -> None:
    """make_q3_quants' sweeps for the groups ``x`` (n, groups) from ``out`` (updated in place), which hold
    the state right after their first sweep's first change, at element ``pos - 1``.

    ggml visits the elements in order, sweep after sweep (at most 5), and stops a group after a sweep
    that changed nothing. Between two accepted changes the sums stay put, so judging all n elements
    against the current sums at once and taking, per group, the first change at or after its position
    reproduces the sequential walk. When none is left the sweep ends; if it changed something, the next
    sweep's first change is the first over all elements, else the group is done. Each round drops the
    groups that are done (``take`` keeps the working set in C order, which the reductions want).
    """
    n, groups = x.shape
    index = xp.arange(n)[:, None]
    rank = (n - index).astype(xp.uint8)  # the first element gets the highest rank
    cols = xp.arange(groups)  # which group of ``out`` each column of the working set is
    cur = out.pick(cols)
    sweep = xp.zeros(groups, dtype=xp.int64)
    changed = xp.ones(groups, dtype=bool)  # the current sweep has accepted a change
    while cols.size:
        w = x * x
        wx = w * x
        take, a2, b2, new = _q3_candidate(x, w, wx, cur.lev, cur.slx[None, :], cur.sl2[None, :], nmax, xp)
        first = xp.max(take * rank, axis=0)
        here = xp.max((take & (index >= pos[None, :])) * rank, axis=0)
        restart = (here == 0) & (first > 0) & changed & (sweep < 4)
        changed = (here > 0) | restart
        k = n - xp.where(restart, first, here)
        at = xp.flatnonzero(changed)
        kk = k[at]
        cur.lev[kk, at] = new[kk, at]
        cur.slx[at], cur.sl2[at] = a2[kk, at], b2[kk, at]
        done = xp.flatnonzero(~changed)
        out.put(cols[done], cur, done)
        cols, cur, x = cols[at], cur.pick(at), xp.take(x, at, axis=1)
        pos, sweep, changed = kk + 1, (sweep + restart)[at], changed[at]


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
