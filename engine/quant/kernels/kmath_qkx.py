"""Shared math of the scale+min K-quants (Q2_K, Q4_K, Q5_K): quant-spec 3.6 H-A and 4.2 H-E.

Every routine works on sub-blocks laid out *element-major*: an array of shape ``(n, S)`` holds ``S``
sub-blocks of ``n`` values, one sub-block per column. Then every elementwise step is one contiguous
pass over all sub-blocks, per-sub-block values are ``(S,)`` rows that broadcast for free, and a sum over
the element index is a chain of row adds, strictly left to right like ggml's C loops.

The candidate search in ``fit_affine`` is sequential by nature (an accepted candidate moves ``mn`` for
the candidates after it), so it loops in Python over the candidates and vectorises over sub-blocks,
reusing preallocated work arrays to stay inside the CPU caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from engine.quant.kernels.numeric import MAGIC, rne
from engine.quant.registry import Kernel

F32 = np.float32
# |v| below this rounds identically via float add/subtract of MAGIC and via ggml's integer bit trick.
_SAFE = F32(2**21)


def seq_sum0(a: Any, xp: ModuleType, out: Any | None = None) -> Any:
    """Sum over axis 0 of an (n, S) float32 array, strictly in index order, in binary32.

    numpy's reduction over the leading axis of a C-contiguous array with at least two columns adds
    whole rows in order (pairwise summation only happens along the contiguous axis), which is exactly
    the sequential C loop for every column; other layouts and CuPy take the explicit loop.
    """
    if xp is np and a.ndim == 2 and a.shape[1] >= 2 and a.flags.c_contiguous:
        out = np.add.reduce(a, axis=0, out=out)
    else:
        if out is None:
            out = xp.empty(a.shape[1:], dtype=xp.float32)
        out[...] = a[0]
        for i in range(1, a.shape[0]):
            xp.add(out, a[i], out=out)
    # C starts its accumulator at +0.0, so an all -0.0 column sums to +0.0; starting from the first
    # row instead gives -0.0 there and nowhere else, and adding +0.0 turns exactly that case into C's.
    xp.add(out, xp.float32(0.0), out=out)
    return out


def round_clamp(v: Any, lo: int, hi: int, xp: ModuleType) -> Any:
    """``clamp(rne(v), lo, hi)`` as float32 with ggml's literal integer trick (any input, NaN too)."""
    return xp.clip(rne(v, xp), lo, hi).astype(xp.float32)


def to_u8(v: Any, xp: ModuleType) -> Any:
    """C's conversion of an int to uint8_t: keep the low 8 bits."""
    return (v & 0xFF).astype(xp.uint8)


def first_max_pos(v: Any, xp: ModuleType) -> Any:
    """``m = 0; for s in v: if s > m: m = s`` over the last axis (NaN and negatives never win)."""
    return xp.max(xp.where(v > 0, v, F32(0)), axis=-1)


def _strict_min_max(x: Any, xp: ModuleType) -> tuple[Any, Any, bool]:
    """Per column ``m = x[0]; if x[i] < m: m = x[i]`` (and the max alike), as ggml scans.

    Plain min/max agree except that they spread a NaN; only then is the scan replayed literally.
    The flag says whether ``x`` holds a NaN.
    """
    lo, hi = xp.min(x, axis=0), xp.max(x, axis=0)
    if not bool(xp.any(xp.isnan(lo))):
        return lo, hi, False
    lo, hi = x[0].copy(), x[0].copy()
    for i in range(1, x.shape[0]):
        lo = xp.where(x[i] < lo, x[i], lo)
        hi = xp.where(x[i] > hi, x[i], hi)
    return lo, hi, True


@dataclass(frozen=True, slots=True)
class AffineParams:
    """Arguments of ggml's make_qkx2/qkx3_quants: code range and the candidate inverse scales."""

    nmax: int
    rmin: float
    rdelta: float
    nstep: int
    mad: bool  # error |d| (use_mad) instead of d*d


@dataclass(frozen=True, slots=True)
class AffineFit:
    """Result of ``fit_affine`` for S sub-blocks: ``x ~ scale * L - negmin``."""

    scale: Any  # (S,) float32
    negmin: Any  # (S,) float32, >= 0 for sane inputs
    codes: Any  # (n, S) float32 holding integers 0..nmax


class _AffineSearch:
    """Work arrays and running state of one vectorised make_qkx2_quants call."""

    def __init__(self, x: Any, w: Any, p: AffineParams, xp: ModuleType) -> None:
        self.x, self.w, self.p, self.xp = x, w, p, xp
        self.v = xp.empty_like(x)  # candidate codes, as float32
        self.wl = xp.empty_like(x)  # w * code
        self.t = xp.empty_like(x)  # scratch
        self.acc = [xp.empty(x.shape[1], dtype=xp.float32) for _ in range(4)]
        self.xmin, self.mx, self.literal = _strict_min_max(x, xp)
        self.mn = xp.where(self.xmin > 0, F32(0), self.xmin)
        self.sum_w = seq_sum0(w, xp).copy()
        self.sum_x = seq_sum0(w * x, xp).copy()
        self.flat = self.mx == self.mn
        # Flat sub-blocks never accept a candidate (all codes are 0); a unit range keeps them finite.
        self.range = xp.where(self.flat, F32(1), self.mx - self.mn)

    def codes(self, isc: Any) -> Any:
        """Fill ``self.v`` with clamp(rne(isc * (x - mn)), 0, nmax) for the current ``mn``."""
        xp, v = self.xp, self.v
        xp.subtract(self.x, self.mn, out=v)
        xp.multiply(v, isc, out=v)
        reach = xp.abs(isc) * xp.maximum(xp.abs(self.range), xp.abs(self.xmin - self.mn))
        if self.literal or bool(xp.any(~(reach < _SAFE))):  # huge or NaN: only the bit trick is exact
            v[...] = round_clamp(v, 0, self.p.nmax, xp)
            return v
        xp.add(v, F32(MAGIC), out=v)
        xp.subtract(v, F32(MAGIC), out=v)
        xp.clip(v, F32(0), F32(self.p.nmax), out=v)
        return v

    def error(self, scale: Any, mn: Any) -> Any:
        """sseq(w * E(scale*L + mn - x)) for the codes in ``self.v``."""
        xp, t = self.xp, self.t
        xp.multiply(self.v, scale, out=t)
        xp.add(t, mn, out=t)
        xp.subtract(t, self.x, out=t)
        if self.p.mad:
            xp.abs(t, out=t)
        else:
            xp.multiply(t, t, out=t)
        xp.multiply(t, self.w, out=t)
        return seq_sum0(t, self.xp, out=self.acc[3])

    def moments(self) -> tuple[Any, Any, Any]:
        """(sum w*l, sum w*l*l, sum w*l*x) of the codes in ``self.v``, each sequential."""
        xp, wl, t = self.xp, self.wl, self.t
        xp.multiply(self.w, self.v, out=wl)
        sl = seq_sum0(wl, xp, out=self.acc[0])
        xp.multiply(wl, self.v, out=t)
        sl2 = seq_sum0(t, xp, out=self.acc[1])
        xp.multiply(wl, self.x, out=t)
        sxl = seq_sum0(t, xp, out=self.acc[2])
        return sl, sl2, sxl


def fit_affine(x: Any, w: Any, p: AffineParams, xp: ModuleType) -> AffineFit:
    """ggml make_qkx2_quants (make_qkx3_quants with an imatrix) for every column of ``x``.

    Args:
        x: (n, S) float32 sub-blocks, one per column.
        w: (n, S) float32 weights.
        p: code range and candidate grid.
        xp: numpy or CuPy.

    Returns:
        The fitted scale, negated min and codes of every sub-block.
    """
    st = _AffineSearch(x, w, p, xp)
    with np.errstate(all="ignore"):
        isc_used = xp.divide(F32(p.nmax), st.range)
        scale = xp.divide(F32(1), isc_used)
        st.codes(isc_used)
        best = st.error(scale, st.mn).copy()
        mn_used = st.mn
        for s in range(p.nstep + 1):
            num = F32(F32(F32(p.rmin) + F32(F32(p.rdelta) * F32(s))) + F32(p.nmax))
            isc = xp.divide(num, st.range)
            st.codes(isc)
            sl, sl2, sxl = st.moments()
            det = st.sum_w * sl2 - sl * sl
            this_scale = (st.sum_w * sxl - st.sum_x * sl) / det
            this_min = (sl2 * st.sum_x - sl * sxl) / det
            pos = this_min > 0
            this_min = xp.where(pos, F32(0), this_min)
            this_scale = xp.where(pos, sxl / sl2, this_scale)
            err = st.error(this_scale, this_min)
            take = (det > 0) & (err < best)
            best = xp.where(take, err, best)
            scale = xp.where(take, this_scale, scale)
            isc_used = xp.where(take, isc, isc_used)
            mn_used = xp.where(take, st.mn, mn_used)
            st.mn = xp.where(take, this_min, st.mn)
            st.range = xp.where(st.flat, F32(1), st.mx - st.mn)
        codes = round_clamp((x - mn_used) * isc_used, 0, p.nmax, xp)
    codes = xp.where(st.flat, F32(0), codes)
    return AffineFit(scale=xp.where(st.flat, F32(0), scale), negmin=-st.mn, codes=codes)


def to_columns(rows: Any, n: int, xp: ModuleType) -> Any:
    """(R, C) float32 rows -> (n, R*C/n) sub-blocks of ``n`` consecutive values, one per column."""
    return xp.ascontiguousarray(rows.reshape(-1, n).T, dtype=xp.float32)


def from_columns(codes: Any, block: int, xp: ModuleType) -> Any:
    """Inverse of ``to_columns`` for codes: (n, S) -> (n_blocks, block) uint8 in element order."""
    return xp.ascontiguousarray(codes.T).reshape(-1, block).astype(xp.uint8)


def column_weights(imatrix: Any, n: int, n_rows: int, xp: ModuleType) -> Any:
    """Per-column importance (C,) -> (n, n_rows*C/n), aligned with ``to_columns`` of the rows."""
    per_row = xp.asarray(imatrix, dtype=xp.float32).reshape(-1, n).T
    return xp.ascontiguousarray(xp.tile(per_row, (1, n_rows)))


def block_sigma2(rows: Any, block: int, factor: float, xp: ModuleType) -> Any:
    """f32(f32(factor * sseq(x*x over a block)) / block) for every block, in block order."""
    xb = to_columns(rows, block, xp)
    return xp.multiply(F32(factor), seq_sum0(xb * xb, xp)) / F32(block)


def imatrix_weights(x: Any, qw: Any, sigma2: Any, xp: ModuleType) -> Any:
    """w = f32(qw * sqrt(f32(sigma2 + f32(x*x)))) with one ``sigma2`` per block (repeated per column)."""
    per_col = xp.repeat(sigma2, x.shape[1] // sigma2.shape[0])
    return qw * xp.sqrt(per_col + x * x)


def requantize(x: Any, dq: Any, dm: Any, codes: Any, nmax: int, xp: ModuleType) -> Any:
    """Codes against the stored (half-rounded) scales: clamp(rne((x + dm)/dq)); kept where dq == 0."""
    with np.errstate(all="ignore"):
        fresh = round_clamp((x + dm) / dq, 0, nmax, xp)
    return xp.where(dq == 0, codes, fresh)


def pack_scale_min_k4(sc: Any, mn: Any, xp: ModuleType) -> Any:
    """Eight 6-bit scale codes and eight 6-bit min codes (B, 8) uint8 -> ggml's 12-byte field (B, 12).

    Bytes 0-3 hold sc[0:4] plus the top two bits of sc[4:8]; bytes 4-7 the same for the mins; bytes
    8-11 the low nibbles of sc[4:8] (low half) and mn[4:8] (high half).
    """
    lo_s, hi_s, lo_m, hi_m = sc[:, :4], sc[:, 4:], mn[:, :4], mn[:, 4:]
    first = lo_s | ((hi_s >> 4) << 6)
    second = lo_m | ((hi_m >> 4) << 6)
    third = (hi_s & 15) | ((hi_m & 15) << 4)
    return xp.concatenate([first, second, third], axis=1).astype(xp.uint8)


def unpack_scale_min_k4(packed: Any, xp: ModuleType) -> tuple[Any, Any]:
    """ggml get_scale_min_k4 for all eight sub-blocks: (B, 12) uint8 -> (scale codes, min codes)."""
    q = packed.astype(xp.uint8)
    sc_lo, mn_lo = q[:, 0:4] & 63, q[:, 4:8] & 63
    sc_hi = (q[:, 8:12] & 15) | ((q[:, 0:4] >> 6) << 4)
    mn_hi = (q[:, 8:12] >> 4) | ((q[:, 4:8] >> 6) << 4)
    return xp.concatenate([sc_lo, sc_hi], axis=1), xp.concatenate([mn_lo, mn_hi], axis=1)


def _weighted_sq_err(x: Any, w: Any, scale: Any, codes: Any, xp: ModuleType) -> Any:
    """sseq(f32(f32(w*e)*e)) with e = f32(x - f32(scale*codes)), over axis 0."""
    e = x - scale * codes
    return seq_sum0((w * e) * e, xp)


def fit_pos_scales(x: Any, w: Any, nmax: int, xp: ModuleType) -> tuple[Any, Any]:
    """ggml make_qp_quants for every column of ``x``: non-negative codes for sub-block scales or mins.

    Args:
        x: (n, B) float32, the n sub-block scales (or mins) of each of B blocks, one block per column.
        w: (n, B) float32 weights (the sum of each sub-block's importance weights).
        nmax: largest code.
        xp: numpy or CuPy.

    Returns:
        (B,) float32 block scale and (n, B) uint8 codes.
    """
    mx = xp.zeros(x.shape[1], dtype=xp.float32)
    for i in range(x.shape[0]):
        mx = xp.where(mx > x[i], mx, x[i])
    with np.errstate(all="ignore"):
        iscale = xp.divide(F32(nmax), mx)
        codes = to_u8(rne(iscale * x, xp), xp).astype(xp.float32)
        best = _weighted_sq_err(x, w, xp.divide(F32(1), iscale), codes, xp)
        for k in (-4, -3, -2, -1, 1, 2, 3, 4):
            isk = xp.divide(F32(F32(F32(0.1) * F32(k)) + F32(nmax)), mx)
            ls = xp.minimum(rne(isk * x, xp), nmax).astype(xp.float32)
            mse = _weighted_sq_err(x, w, xp.divide(F32(1), isk), ls, xp)
            better = mse < best
            best = xp.where(better, mse, best)
            iscale = xp.where(better, isk, iscale)
        ls = xp.minimum(rne(iscale * x, xp), nmax)
        lf = ls.astype(xp.float32)
        slx = seq_sum0((w * x) * lf, xp)
        sl2 = seq_sum0((w * lf) * lf, xp)
        stored = to_u8(ls, xp)
        slx, sl2 = _refine_pos_codes(x, w, nmax, stored, slx, sl2, xp)
        scale = xp.where(sl2 > 0, slx / sl2, F32(0))
    tiny = mx < F32(1e-15)
    return xp.where(tiny, F32(0), scale), xp.where(tiny, xp.uint8(0), stored)


def _refine_pos_codes(
    x: Any, w: Any, nmax: int, codes: Any, slx: Any, sl2: Any, xp: ModuleType
) -> tuple[Any, Any]:
    """make_qp_quants' coordinate sweeps; updates ``codes`` (n, B) uint8 in place.

    A block whose sweep changed nothing would change nothing on a repeat, so sweeping every block
    until none changes (at most 5 times) equals ggml's per-block early exit.
    """
    wx = w * x
    for _ in range(5):
        changed = xp.zeros(x.shape[1], dtype=bool)
        for i in range(x.shape[0]):
            li = codes[i].astype(xp.float32)
            a = slx - wx[i] * li
            b = sl2 - (w[i] * li) * li
            nl = xp.minimum(rne((x[i] * b) / a, xp), nmax)
            nlf = nl.astype(xp.float32)
            a2 = a + wx[i] * nlf
            b2 = b + (w[i] * nlf) * nlf
            take = (a > 0) & (b > 0) & (nl != codes[i].astype(xp.int32))
            take &= ((a2 * a2) * sl2) > ((slx * slx) * b2)
            codes[i] = xp.where(take, to_u8(nl, xp), codes[i])
            slx = xp.where(take, a2, slx)
            sl2 = xp.where(take, b2, sl2)
            changed |= take
        if not bool(xp.any(changed)):
            break
    return slx, sl2


class CachePassKernel(Kernel):
    """A 256-value K-quant whose chunks are quantized in cache-sized passes on the CPU.

    Subclasses implement ``_quantize_pass`` (rows -> packed blocks (n_blocks, type_size)); a GPU takes the
    registry's whole (large) chunk in one pass.
    """

    pass_subblocks: ClassVar[int]
    subblocks_per_block: ClassVar[int]

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        n_rows, n_per_row = rows.shape
        nb = n_per_row // 256
        step = max(1, self.pass_subblocks // (nb * self.subblocks_per_block)) if xp is np else n_rows
        parts = [self._quantize_pass(rows[r : r + step], xp, imatrix) for r in range(0, n_rows, step)]
        blocks = parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=0)
        return blocks.reshape(n_rows, nb * self.type_size)

    def _quantize_pass(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        raise NotImplementedError
