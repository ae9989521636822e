"""Q4_K and Q5_K: 256-value blocks of eight 32-value sub-blocks, each with a 6-bit scale and min.

Quant-spec 3.9 and 3.10 (no importance matrix: ggml ``quantize_row_q4_K_ref``/``q5_K_ref``) and 4.3
(with one: ``quantize_row_q4_K_impl``/``q5_K_impl``). Both types share everything but the code width
and the packing of the fifth bit.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.quant.kernels.kmath_qkx import (
    CachePassKernel,
    F32,
    AffineParams,
    block_sigma2,
    column_weights,
    first_max_pos,
    fit_affine,
    fit_pos_scales,
    from_columns,
    imatrix_weights,
    pack_scale_min_k4,
    requantize,
    seq_sum0,
    to_columns,
    to_u8,
    unpack_scale_min_k4,
)
from engine.quant.kernels.numeric import half_bits, rne, u16_le_bytes, unhalf

QK = 256
SUB = 32
N_SUB = QK // SUB
# Sub-blocks per inner pass on the CPU: keeps the (32, S) work arrays of fit_affine inside L2.
PASS_SUBBLOCKS = 2048


class _ScaleMinKernel(CachePassKernel):
    """The common Q4_K/Q5_K pipeline; subclasses set the code width and pack the codes."""

    parallel_by_processes = True
    pass_subblocks = PASS_SUBBLOCKS
    subblocks_per_block = N_SUB
    uses_imatrix = True
    half_fields = (0, 2)
    nmax: ClassVar[int]
    plain: ClassVar[AffineParams]
    weighted: ClassVar[AffineParams]

    def _quantize_pass(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        x = to_columns(rows, SUB, xp)
        if imatrix is None:
            fit, d, dmin, sc, mn = self._fit_plain(x, xp)
        else:
            fit, d, dmin, sc, mn = self._fit_weighted(rows, x, imatrix, xp)
        dq = (unhalf(d, xp)[:, None] * sc.astype(xp.float32)).reshape(-1)
        dm = (unhalf(dmin, xp)[:, None] * mn.astype(xp.float32)).reshape(-1)
        codes = from_columns(requantize(x, dq, dm, fit.codes, self.nmax, xp), QK, xp)
        halves = u16_le_bytes(xp.stack([d, dmin], axis=1), xp)
        head = xp.concatenate([halves, pack_scale_min_k4(sc, mn, xp)], axis=1)
        return xp.concatenate([head, self._pack_codes(codes, xp)], axis=1)

    def _fit_plain(self, x: Any, xp: ModuleType) -> tuple[Any, ...]:
        """Reference path: w = rms(sub-block) + |x|, super-scales from the largest sub-block values."""
        with np.errstate(all="ignore"):
            av = xp.sqrt(seq_sum0(x * x, xp) / F32(SUB))
        fit = fit_affine(x, av + xp.abs(x), self.plain, xp)
        scales, mins = fit.scale.reshape(-1, N_SUB), fit.negmin.reshape(-1, N_SUB)
        max_scale, max_min = first_max_pos(scales, xp), first_max_pos(mins, xp)
        with np.errstate(all="ignore"):
            inv_scale = xp.where(max_scale > 0, xp.divide(F32(63), max_scale), F32(0))
            inv_min = xp.where(max_min > 0, xp.divide(F32(63), max_min), F32(0))
            sc = xp.minimum(to_u8(rne(inv_scale[:, None] * scales, xp), xp), 63)
            mn = xp.minimum(to_u8(rne(inv_min[:, None] * mins, xp), xp), 63)
            d, dmin = half_bits(max_scale / F32(63), xp), half_bits(max_min / F32(63), xp)
        return fit, d, dmin, sc, mn

    def _fit_weighted(self, rows: Any, x: Any, imatrix: Any, xp: ModuleType) -> tuple[Any, ...]:
        """imatrix path: w = qw*sqrt(sigma2 + x^2); super-scales fitted by make_qp_quants."""
        sigma2 = block_sigma2(rows, QK, 2.0, xp)
        w = imatrix_weights(x, column_weights(imatrix, SUB, rows.shape[0], xp), sigma2, xp)
        sw = seq_sum0(w, xp).reshape(-1, N_SUB).T
        fit = fit_affine(x, w, self.weighted, xp)
        dv, sc = fit_pos_scales(xp.ascontiguousarray(fit.scale.reshape(-1, N_SUB).T), sw, 63, xp)
        mv, mn = fit_pos_scales(xp.ascontiguousarray(fit.negmin.reshape(-1, N_SUB).T), sw, 63, xp)
        sc, mn = xp.minimum(sc.T, 63), xp.minimum(mn.T, 63)
        return fit, half_bits(dv, xp), half_bits(mv, xp), sc, mn

    def _pack_codes(self, codes: Any, xp: ModuleType) -> Any:
        raise NotImplementedError

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        blocks = data.reshape(-1, self.type_size)
        halves = unhalf(xp.ascontiguousarray(blocks[:, 0:4]).view(xp.uint16), xp)
        sc, mn = unpack_scale_min_k4(blocks[:, 4:16], xp)
        dq = (halves[:, 0:1] * sc.astype(xp.float32))[:, :, None]
        dm = (halves[:, 1:2] * mn.astype(xp.float32))[:, :, None]
        codes = self._unpack_codes(blocks, xp).reshape(-1, N_SUB, SUB).astype(xp.float32)
        return (dq * codes - dm).reshape(-1, QK)

    def _unpack_codes(self, blocks: Any, xp: ModuleType) -> Any:
        raise NotImplementedError


def _nibbles(codes: Any, xp: ModuleType) -> Any:
    """(B, 256) codes -> (B, 128): qs[32g + l] = low4(L[64g + l]) | low4(L[64g + 32 + l]) << 4."""
    c = (codes & 15).reshape(-1, 4, 2, SUB)
    return (c[:, :, 0, :] | (c[:, :, 1, :] << 4)).reshape(-1, QK // 2).astype(xp.uint8)


def _unnibble(qs: Any, xp: ModuleType) -> Any:
    """Inverse of ``_nibbles``: (B, 128) -> (B, 256) low four bits of every code."""
    q = qs.reshape(-1, 4, 1, SUB)
    return xp.concatenate([q & 15, q >> 4], axis=2).reshape(-1, QK)


class Q4KKernel(_ScaleMinKernel, qtype=GGMLType.Q4_K):
    """4-bit codes: d, dmin, 12 scale bytes, 128 nibble bytes."""

    nmax = 15
    plain = AffineParams(nmax=15, rmin=-1.0, rdelta=0.1, nstep=20, mad=False)
    weighted = AffineParams(nmax=15, rmin=-0.9, rdelta=0.05, nstep=36, mad=False)

    def _pack_codes(self, codes: Any, xp: ModuleType) -> Any:
        return _nibbles(codes, xp)

    def _unpack_codes(self, blocks: Any, xp: ModuleType) -> Any:
        return _unnibble(blocks[:, 16:144], xp)


class Q5KKernel(_ScaleMinKernel, qtype=GGMLType.Q5_K):
    """5-bit codes: d, dmin, 12 scale bytes, 32 bytes of fifth bits, 128 nibble bytes."""

    nmax = 31
    plain = AffineParams(nmax=31, rmin=-0.5, rdelta=0.1, nstep=15, mad=False)
    weighted = AffineParams(nmax=31, rmin=-0.9, rdelta=0.05, nstep=36, mad=False)

    def _pack_codes(self, codes: Any, xp: ModuleType) -> Any:
        hi = (codes >> 4).reshape(-1, 8, SUB)  # element 64g + 32s + l -> bit 2g + s of qh[l]
        qh = xp.zeros((codes.shape[0], SUB), dtype=xp.uint8)
        for bit in range(8):
            qh |= (hi[:, bit, :] << bit).astype(xp.uint8)
        return xp.concatenate([qh, _nibbles(codes, xp)], axis=1)

    def _unpack_codes(self, blocks: Any, xp: ModuleType) -> Any:
        qh = blocks[:, 16:48]
        hi = xp.stack([(qh >> bit) & 1 for bit in range(8)], axis=1).reshape(-1, QK)
        return _unnibble(blocks[:, 48:176], xp) | (hi << 4)
