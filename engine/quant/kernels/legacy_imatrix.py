"""Importance-weighted Q4_0/Q4_1/Q5_0/Q5_1 (quant-spec 4.3): ggml's ``quantize_row_q*_impl``.

Each 32-value block gets weights ``qw * sqrt(sigma2 + x*x)``, where ``sigma2`` is the mean square of
the whole row, then a weighted least-squares search over candidate scales: ``make_qx_quants`` (19
symmetric candidates, shared with the K-quants) for Q4_0/Q5_0 and ``make_qkx3_quants`` (37 affine
candidates, squared error) for Q4_1/Q5_1. The winning candidate's codes are stored as they are, with
no requantization.

Work is position-major, ``(32, n_blocks)``: every per-block sum becomes a Python loop over the 32
positions whose steps are contiguous vector adds, which is both sequential (bit-exact) and fast.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from engine.quant.kernels import positions as pm
from engine.quant.kernels.blockops import F32, first_min, seq_sum_last, seq_sum_rows
from engine.quant.kernels.kmath_qx import fit_sym
from engine.quant.kernels.numeric import MAGIC, rne

QK = 32
# Blocks per step of the candidate search: big enough to amortise Python, small enough for cache.
_STEP = 1024


def row_weights(rows: Any, imatrix: Any, xp: ModuleType) -> Any:
    """Per-value weights (n_blocks, 32): qw * sqrt(sigma2 + x*x), sigma2 = sseq(x*x over the row)/n."""
    n_rows, n_per_row = rows.shape
    sq = rows * rows
    sigma2 = seq_sum_last(sq, xp) / F32(n_per_row)
    w = imatrix[None, :] * xp.sqrt(sigma2[:, None] + sq)
    return w.reshape(-1, QK)


def symmetric(rows: Any, imatrix: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any]:
    """Q4_0 (nmax 8) / Q5_0 (nmax 16): scales (n_blocks,) and position-major codes of ``fit_sym``
    (``make_qx_quants``, shared with the K-quants; it works on groups of any length)."""
    blocks, weights = rows.reshape(-1, QK), row_weights(rows, imatrix, xp)
    fit = lambda x, w: fit_sym(pm.transpose(x, xp), pm.transpose(w, xp), nmax, xp)  # noqa: E731
    return _stepwise(blocks, weights, xp, fit)


def affine(rows: Any, imatrix: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, Any]:
    """Q4_1 (nmax 15) / Q5_1 (nmax 31): scales, minimums (as stored) and codes of fit_affine."""
    blocks, weights = rows.reshape(-1, QK), row_weights(rows, imatrix, xp)
    return _stepwise(blocks, weights, xp, lambda x, w: fit_affine(x, w, xp, nmax))


def _stepwise(blocks: Any, weights: Any, xp: ModuleType, fit: Any) -> Any:
    """Run ``fit`` over slices of blocks and join the per-block results (codes along their last axis)."""
    parts = [fit(blocks[s : s + _STEP], weights[s : s + _STEP]) for s in range(0, blocks.shape[0], _STEP)]
    return tuple(xp.concatenate([p[i] for p in parts], axis=-1) for i in range(len(parts[0])))


def fit_affine(x: Any, w: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, Any]:
    """ggml ``make_qkx3_quants(32, nmax, x, w, ..., -0.9, 0.05, 36, use_mad=false)``.

    Returns scales, minimums as stored in the block, and position-major codes (32, n). The minimum
    ``mn`` moves whenever a candidate wins and every later candidate measures ``x - mn`` from the new
    one, so the 37 candidates stay sequential. (The K-quants' shared ``fit_affine`` starts from numpy's
    ``min``, whose zero may have the wrong sign; Q4_1/Q5_1 store the minimum, so this one keeps ggml's.)
    """
    st = _Affine(x, w, xp, nmax)
    scale = F32(1.0) / (F32(nmax) / st.span())
    levels = st.levels(F32(nmax) / st.span()).copy()
    best = st.error(scale, st.mn, levels)
    for step in range(37):
        cand = st.levels((F32(F32(-0.9) + F32(0.05) * F32(step)) + F32(nmax)) / st.span())
        wl = st.w * cand
        sl, sl2, sxl = seq_sum_rows(wl, xp), seq_sum_rows(wl * cand, xp), seq_sum_rows(wl * st.x, xp)
        det = st.sum_w * sl2 - sl * sl
        ok = (det > 0) & ~st.flat
        safe_det = xp.where(ok, det, F32(1.0))
        this_scale = (st.sum_w * sxl - st.sum_x * sl) / safe_det
        this_min = (sl2 * st.sum_x - sl * sxl) / safe_det
        positive = this_min > 0
        this_min = xp.where(positive, F32(0.0), this_min)
        this_scale = xp.where(positive, sxl / xp.where(ok, sl2, F32(1.0)), this_scale)
        win = ok & (st.error(this_scale, this_min, cand) < best)
        if bool(xp.any(win)):
            levels = xp.where(win[None, :], cand, levels)
            best = xp.where(win, st.err, best)
            scale, st.mn = xp.where(win, this_scale, scale), xp.where(win, this_min, st.mn)
    codes = xp.ascontiguousarray(xp.where(st.flat[None, :], F32(0.0), levels), dtype=xp.uint8)
    # ggml hands back the_min = -mn and llama-quantize stores -the_min: the stored minimum is mn itself.
    return xp.where(st.flat, F32(0.0), scale), st.mn, codes


class _Affine:
    """Position-major work arrays and running state of one vectorised make_qkx3_quants call."""

    def __init__(self, x: Any, w: Any, xp: ModuleType, nmax: int) -> None:
        self.xp, self.nmax = xp, nmax
        self.lo = first_min(x, xp)  # ggml's scan from x[0]: the sign of a zero minimum is kept
        self.mx = xp.max(x, axis=-1)
        self.mn = xp.where(self.lo > 0, F32(0.0), self.lo)
        self.flat = self.mx <= self.mn
        self.x, self.w = pm.transpose(x, xp), pm.transpose(w, xp)
        self.sum_w, self.sum_x = seq_sum_rows(self.w, xp), seq_sum_rows(self.w * self.x, xp)
        self.buf = xp.empty_like(self.x)
        self.err: Any = None

    def span(self) -> Any:
        """max - mn for the current ``mn`` (1 for flat blocks, which never take a candidate)."""
        return self.xp.where(self.flat, F32(1.0), self.mx - self.mn)

    def levels(self, iscale: Any) -> Any:
        """clamp(rne(iscale * (x - mn)), 0, nmax) as binary32, into the shared buffer.

        Adding and subtracting 1.5*2**23 rounds half to even exactly like ggml's bit trick while every
        |iscale*(x - mn)| is below 2**22; otherwise (huge or NaN values) the literal trick runs.
        """
        xp, v = self.xp, self.buf
        xp.subtract(self.x, self.mn, out=v)
        xp.multiply(v, iscale, out=v)
        reach = xp.abs(iscale) * xp.maximum(xp.abs(self.mx - self.mn), xp.abs(self.lo - self.mn))
        if bool(xp.all(reach < F32(1 << 22))):
            xp.add(v, F32(MAGIC), out=v)
            xp.subtract(v, F32(MAGIC), out=v)
            return xp.clip(v, F32(0.0), F32(self.nmax), out=v)
        v[...] = xp.clip(rne(v, xp), 0, self.nmax).astype(xp.float32)
        return v

    def error(self, scale: Any, mn: Any, levels: Any) -> Any:
        """sseq(w * diff^2), diff = scale*L + mn - x, left to right as in ggml (kept in ``err``)."""
        diff = (levels * scale + mn) - self.x
        self.err = seq_sum_rows(self.w * (diff * diff), self.xp)
        return self.err
