"""Importance-weighted Q4_0/Q4_1/Q5_0/Q5_1 (quant-spec 4.3): ggml's ``quantize_row_q*_impl``.

Each 32-value block gets weights ``qw * sqrt(sigma2 + x*x)``, where ``sigma2`` is the mean square of
the whole row, then a weighted least-squares search over candidate scales: ``make_qx_quants`` (19
symmetric candidates) for Q4_0/Q5_0 and ``make_qkx3_quants`` (37 affine candidates, squared error) for
Q4_1/Q5_1. The codes of the winning candidate are stored as they are, with no requantization.

Work is position-major, ``(32, n_blocks)``: every per-block sum becomes a Python loop over the 32
positions whose steps are contiguous vector adds, which is both sequential (bit-exact) and fast.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from engine.quant.kernels.blockops import F32, first_min, seq_sum_last, seq_sum_rows, signed_absmax
from engine.quant.kernels.numeric import rne

QK = 32
GROUP_MAX_EPS = F32(1e-15)
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
    """Q4_0 (nmax 8) / Q5_0 (nmax 16): scales (n_blocks,) and position-major codes of fit_sym."""
    blocks, weights = rows.reshape(-1, QK), row_weights(rows, imatrix, xp)
    return _stepwise(blocks, weights, xp, lambda x, w: fit_sym(x, w, xp, nmax))


def affine(rows: Any, imatrix: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, Any]:
    """Q4_1 (nmax 15) / Q5_1 (nmax 31): scales, minimums (as stored) and codes of fit_affine."""
    blocks, weights = rows.reshape(-1, QK), row_weights(rows, imatrix, xp)
    return _stepwise(blocks, weights, xp, lambda x, w: fit_affine(x, w, xp, nmax))


def _stepwise(blocks: Any, weights: Any, xp: ModuleType, fit: Any) -> Any:
    """Run ``fit`` over slices of blocks and join the per-block results (codes along their last axis)."""
    parts = [fit(blocks[s : s + _STEP], weights[s : s + _STEP]) for s in range(0, blocks.shape[0], _STEP)]
    return tuple(xp.concatenate([p[i] for p in parts], axis=-1) for i in range(len(parts[0])))


def fit_sym(x: Any, w: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any]:
    """ggml ``make_qx_quants(32, nmax, x, L, rmse_type=1, w)`` for blocks (n, 32).

    Returns the scales (n,) and position-major codes (32, n) in 0..2nmax-1 (0 for tiny blocks).
    """
    m = signed_absmax(x, xp)
    tiny = xp.abs(m) < GROUP_MAX_EPS
    m = xp.where(tiny, F32(1.0), m)
    steps = [F32(-nmax) / m] + [
        -(F32(nmax) + F32(0.1) * F32(k)) / m for k in range(-9, 10) if k != 0
    ]
    inv = xp.stack(steps)  # (19, n)
    xt, wt = xp.ascontiguousarray(x.T), xp.ascontiguousarray(w.T)
    levels = xp.clip(rne(inv[None, :, :] * xt[:, None, :], xp), -nmax, nmax - 1).astype(xp.float32)
    wl = wt[:, None, :] * levels  # (32, 19, n)
    slx = seq_sum_rows((wt * xt)[:, None, :] * levels, xp)
    sl2 = seq_sum_rows(wl * levels, xp)
    scale = xp.where(sl2[0] != 0, slx[0] / xp.where(sl2[0] != 0, sl2[0], F32(1.0)), F32(0.0))
    best = scale * slx[0]
    choice = xp.zeros(m.shape, dtype=xp.int64)
    for k in range(1, inv.shape[0]):
        take = (sl2[k] > 0) & (slx[k] * slx[k] > best * sl2[k])
        scale = xp.where(take, slx[k] / xp.where(take, sl2[k], F32(1.0)), scale)
        best = xp.where(take, scale * slx[k], best)
        choice = xp.where(take, k, choice)
    chosen = xp.take_along_axis(levels, choice[None, None, :], axis=1)[:, 0, :]
    codes = xp.ascontiguousarray(xp.where(tiny[None, :], 0, chosen + nmax), dtype=xp.uint8)
    return xp.where(tiny, F32(0.0), scale), codes


def fit_affine(x: Any, w: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, Any]:
    """ggml ``make_qkx3_quants(32, nmax, x, w, ..., -0.9, 0.05, 36, use_mad=false)``.

    Returns scales, stored minimums and position-major codes (32, n).

    ``m`` is the minimum as stored in the block. The minimum ``mn`` moves whenever a candidate wins and
    every later candidate measures ``x - mn`` from the new one, so the 37 candidates stay sequential.
    """
    mn = first_min(x, xp)
    mx = xp.max(x, axis=-1)
    mn = xp.where(mn > 0, F32(0.0), mn)
    degenerate = mx <= mn
    xt, wt = xp.ascontiguousarray(x.T), xp.ascontiguousarray(w.T)
    sum_w = seq_sum_rows(wt, xp)
    sum_x = seq_sum_rows(wt * xt, xp)
    span = xp.where(degenerate, F32(1.0), mx - mn)
    iscale = F32(nmax) / span
    scale = F32(1.0) / iscale
    levels = _affine_levels(iscale, xt, mn, xp, nmax)
    best = _weighted_sq_error(scale, mn, levels, xt, wt, xp)
    for step in range(37):
        trial = (F32(F32(-0.9) + F32(0.05) * F32(step)) + F32(nmax)) / xp.where(degenerate, F32(1.0), mx - mn)
        cand = _affine_levels(trial, xt, mn, xp, nmax)
        wl = wt * cand
        sl, sl2, sxl = seq_sum_rows(wl, xp), seq_sum_rows(wl * cand, xp), seq_sum_rows(wl * xt, xp)
        det = sum_w * sl2 - sl * sl
        ok = (det > 0) & ~degenerate
        safe_det = xp.where(ok, det, F32(1.0))
        this_scale = (sum_w * sxl - sum_x * sl) / safe_det
        this_min = (sl2 * sum_x - sl * sxl) / safe_det
        positive = this_min > 0
        this_min = xp.where(positive, F32(0.0), this_min)
        this_scale = xp.where(positive, sxl / xp.where(ok, sl2, F32(1.0)), this_scale)
        err = _weighted_sq_error(this_scale, this_min, cand, xt, wt, xp)
        win = ok & (err < best)
        levels = xp.where(win[None, :], cand, levels)
        best, scale, mn = xp.where(win, err, best), xp.where(win, this_scale, scale), xp.where(win, this_min, mn)
    codes = xp.ascontiguousarray(xp.where(degenerate[None, :], F32(0.0), levels), dtype=xp.uint8)
    # ggml hands back the_min = -mn and llama-quantize stores -the_min: the stored minimum is mn itself.
    return xp.where(degenerate, F32(0.0), scale), mn, codes


def _affine_levels(iscale: Any, xt: Any, mn: Any, xp: ModuleType, nmax: int) -> Any:
    """clamp(rne(iscale * (x - mn)), 0, nmax) as binary32 levels, position-major."""
    return xp.clip(rne(iscale[None, :] * (xt - mn[None, :]), xp), 0, nmax).astype(xp.float32)


def _weighted_sq_error(scale: Any, mn: Any, levels: Any, xt: Any, wt: Any, xp: ModuleType) -> Any:
    """sseq(w * diff^2) with diff = scale*L + mn - x, evaluated left to right as in ggml."""
    diff = (scale[None, :] * levels + mn[None, :]) - xt
    return seq_sum_rows(wt * (diff * diff), xp)
