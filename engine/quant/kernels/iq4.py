"""IQ4_NL and IQ4_XS: 4-bit codes on a fixed non-linear grid (quant-spec 2.6, 3.12, 3.13, 4.3).

Both run ggml's ``quantize_row_iq4_nl_impl`` with ``ntry = 7``: each 32-value block tries 16 scales
and keeps the weighted least-squares best. The search is vectorised across blocks *and* candidates in
position-major arrays ``(32, 16, n_blocks)``; only the 32-step sums are Python loops.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.quant.kernels.blockops import (
    F32,
    BlockKernel,
    half_bytes,
    pack_nibbles,
    read_half,
    safe_recip,
    seq_sum_last,
    seq_sum_rows,
    signed_absmax,
    unpack_nibbles,
)
from engine.quant.kernels.numeric import rne, u16_le_bytes

GRID = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.int8)
GROUP_MAX_EPS = F32(1e-15)
NTRY = 7
_SUB_SHIFTS = np.arange(0, 16, 2, dtype=np.uint16)  # where sub-block ib's 2 high scale bits sit in scales_h
_STEP = 512  # blocks per candidate search: (32, 16, 512) binary32 temporaries of 1 MiB stay in cache


def _thresholds() -> np.ndarray:
    """For each gap j, the smallest binary32 v with ``not (v - K[j] < K[j+1] - v)`` in binary32.

    ggml's ``best_index_int8`` picks K[j] below that value and K[j+1] from it on; both differences
    are monotone in v, so one exact threshold per gap replaces the comparison.
    """
    out = []
    for lo, hi in zip(GRID[:-1].astype(np.float32), GRID[1:].astype(np.float32), strict=True):
        mid = np.float32((lo + hi) / np.float32(2))
        below = [mid]
        for _ in range(64):
            below.append(np.nextafter(below[-1], np.float32(-np.inf)))
        above = [mid]
        for _ in range(64):
            above.append(np.nextafter(above[-1], np.float32(np.inf)))
        v = np.array(sorted(set(below + above)), dtype=np.float32)
        upper = ~((v - lo) < (hi - v))
        first = int(np.argmax(upper))
        if not (upper[first:].all() and not upper[:first].any() and 0 < first < v.size - 1):
            raise AssertionError("IQ4 grid threshold search is not monotone")  # import-time invariant
        out.append(v[first])
    return np.array(out, dtype=np.float32)


_THRESHOLDS = _thresholds()
if not np.array_equal(_THRESHOLDS * 2, np.floor(_THRESHOLDS * 2)):
    raise AssertionError("IQ4 grid thresholds are not multiples of 0.5")  # import-time invariant
# Every threshold is a multiple of 1/2, so floor(2v) alone decides the grid index: one table lookup.
# Doubling is exact in binary32. The table spans 2v in [-272, 272]: beyond the outer grid values, and
# wide enough that the candidate search (|inv*x| <= 134) never needs clamping.
_REACH = 272
_INDEX = np.searchsorted(_THRESHOLDS * 2, np.arange(-_REACH, _REACH + 1), side="right").astype(np.uint8)
_VALUE = GRID.astype(np.float32)[_INDEX]


def _slot(v2: Any, xp: ModuleType) -> Any:
    """Table position of a doubled value inside the table's span: floor(v2) + _REACH."""
    return xp.floor(v2).astype(xp.intp) + _REACH


def nl_index(v: Any, xp: ModuleType) -> Any:
    """ggml ``best_index_int8(16, K, v)`` for binary32 v, elementwise -> uint8 grid index.

    fmin comes first so that NaN lands on the top, grid index 15, where ggml's binary search ends.
    """
    v2 = xp.fmax(xp.fmin(v * F32(2.0), F32(_REACH)), F32(-_REACH))
    return xp.take(xp.asarray(_INDEX), _slot(v2, xp))


def nl_fit(x: Any, w: Any, xp: ModuleType) -> Any:
    """Scale of each 32-value block (n, 32) with weights w: the best of 16 tries (0 for tiny blocks,
    NaN for blocks holding a NaN or an infinity, which validation then refuses)."""
    m = signed_absmax(x, xp)
    tiny, bad = xp.abs(m) < GROUP_MAX_EPS, ~xp.isfinite(m)
    if bool(xp.any(bad)):  # ggml writes garbage for these; keep the search finite and refuse them later
        x = xp.where(bad[:, None], F32(0.0), x)
    m = xp.where(tiny | bad, F32(1.0), m)
    first = F32(1.0) / (-m / F32(-127.0))
    inv = xp.stack([first] + [F32(t - 127) / m for t in range(-NTRY, NTRY + 1)])  # (16, n)
    xt, wt = xp.ascontiguousarray(x.T), xp.ascontiguousarray(w.T)
    # |inv*x| <= 134 since |x| <= |m|, so no clamp; (2*inv)*x == 2*(inv*x) exactly (no overflow here).
    q = xp.take(xp.asarray(_VALUE), _slot((inv * F32(2.0))[None, :, :] * xt[:, None, :], xp))  # (32, 16, n)
    wq = wt[:, None, :] * q
    sqx = seq_sum_rows(wq * xt[:, None, :], xp)
    sq2 = seq_sum_rows(wq * q, xp)
    pos = sq2[0] > 0
    d = xp.where(pos, sqx[0] / xp.where(pos, sq2[0], F32(1.0)), F32(0.0))
    best = d * sqx[0]
    for k in range(1, inv.shape[0]):
        take = (sq2[k] > 0) & (sqx[k] * sqx[k] > best * sq2[k])
        d = xp.where(take, sqx[k] / xp.where(take, sq2[k], F32(1.0)), d)
        best = xp.where(take, d * sqx[k], best)
    return xp.where(tiny, F32(0.0), xp.where(bad, F32(np.nan), d))


def _fit_blocks(blocks: Any, weights: Any, xp: ModuleType) -> Any:
    """nl_fit over the 32-value blocks in slices of ``_STEP``."""
    steps = range(0, blocks.shape[0], _STEP)
    return xp.concatenate([nl_fit(blocks[s : s + _STEP], weights[s : s + _STEP], xp) for s in steps])


def _weights(rows: Any, imatrix: Any | None, xp: ModuleType, super_size: int) -> Any:
    """Per-value weights as (n_blocks, 32): x*x, or qw * sqrt(sigma2 + x*x) with an imatrix.

    ``sigma2 = sseq(x*x over the super-block) * (2/super_size)``, one per super-block.
    """
    sq = rows * rows
    if imatrix is None:
        return sq.reshape(-1, 32)
    n_rows, n_per_row = rows.shape
    sup = sq.reshape(n_rows, n_per_row // super_size, super_size)
    sigma2 = seq_sum_last(sup, xp) * F32(2.0 / super_size)
    w = imatrix.reshape(1, -1, super_size) * xp.sqrt(sigma2[:, :, None] + sup)
    return w.reshape(-1, 32)


class IQ4_NLKernel(BlockKernel, qtype=GGMLType.IQ4_NL):
    """One binary16 scale per 32 values; codes re-picked with the unrounded best scale."""

    parallel_by_processes = True

    uses_imatrix = True
    half_fields = (0,)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        blocks = rows.reshape(-1, 32)
        d = _fit_blocks(blocks, _weights(rows, imatrix, xp, 32), xp)
        codes = nl_index(blocks * safe_recip(d, xp)[:, None], xp)
        return [half_bytes(d, xp), pack_nibbles(codes, xp)]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        grid = xp.asarray(GRID.astype(np.float32))
        values = xp.take(grid, unpack_nibbles(blocks[:, 2:], xp))
        return read_half(blocks, 0, xp)[:, None] * values


class IQ4_XSKernel(BlockKernel, qtype=GGMLType.IQ4_XS):
    """256-value super-blocks: a binary16 scale, eight 6-bit sub-scales, IQ4_NL codes per 32 values."""

    parallel_by_processes = True

    uses_imatrix = True
    half_fields = (0,)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        blocks = rows.reshape(-1, 32)
        scales = _fit_blocks(blocks, _weights(rows, imatrix, xp, 256), xp).reshape(-1, 8)
        d = -signed_absmax(scales, xp) / F32(32.0)
        levels = xp.clip(rne(safe_recip(d, xp)[:, None] * scales, xp), -32, 31)
        dl = (d[:, None] * levels.astype(xp.float32)).reshape(-1)
        codes = nl_index(blocks * safe_recip(dl, xp)[:, None], xp)
        sub = (levels + 32).astype(xp.uint16)  # 6 bits: low nibble in scales_l, top 2 bits in scales_h
        high = xp.sum(((sub >> 4) & 3) << xp.asarray(_SUB_SHIFTS), axis=1, dtype=xp.uint16)  # disjoint bits
        low = ((sub[:, 0::2] & 15) | ((sub[:, 1::2] & 15) << 4)).astype(xp.uint8)
        qs = pack_nibbles(codes, xp).reshape(-1, 128)
        return [half_bytes(d, xp), u16_le_bytes(high[:, None], xp), low, qs]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        high = blocks[:, 2].astype(xp.uint16) | (blocks[:, 3].astype(xp.uint16) << 8)
        low = xp.stack([blocks[:, 4:8] & 15, blocks[:, 4:8] >> 4], axis=2).reshape(-1, 8)
        sub = low.astype(xp.int32) | (((high[:, None] >> xp.asarray(_SUB_SHIFTS)) & 3).astype(xp.int32) << 4)
        dl = read_half(blocks, 0, xp)[:, None] * (sub - 32).astype(xp.float32)
        grid = xp.asarray(GRID.astype(np.float32))
        values = xp.take(grid, unpack_nibbles(blocks[:, 8:].reshape(-1, 16), xp)).reshape(-1, 8, 32)
        return (dl[:, :, None] * values).reshape(blocks.shape[0], -1)
