"""Q2_K: 256-value blocks of sixteen 16-value sub-blocks with 2-bit codes and 4-bit scale/min codes.

Quant-spec 3.7 (no importance matrix: ggml ``quantize_row_q2_K_ref``) and 4.3 (with one:
``quantize_row_q2_K_impl``). Block bytes: 16 scale bytes (scale code low nibble, min code high
nibble), 64 bytes of codes, then half d and half dmin.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

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
    requantize,
    seq_sum0,
    to_columns,
    to_u8,
)
from engine.quant.kernels.numeric import half_bits, rne, u16_le_bytes, unhalf

QK = 256
SUB = 16
N_SUB = QK // SUB
NMAX = 3
# Sub-blocks per inner pass on the CPU: keeps the (16, S) work arrays of fit_affine inside L2.
PASS_SUBBLOCKS = 4096
PLAIN = AffineParams(nmax=NMAX, rmin=-0.5, rdelta=0.1, nstep=15, mad=True)
WEIGHTED = AffineParams(nmax=NMAX, rmin=-0.9, rdelta=0.05, nstep=36, mad=False)


def _quantize_scales(v: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Sub-block values (B, 16) -> (4-bit codes as int32 (B, 16), half bits of the block scale)."""
    top = first_max_pos(v, xp)
    live = top > 0
    with np.errstate(all="ignore"):
        codes = rne(xp.divide(F32(15), top)[:, None] * v, xp)
        d = half_bits(xp.where(live, top / F32(15), F32(0)), xp)
    return xp.where(live[:, None], codes, 0), d


class Q2KKernel(CachePassKernel, qtype=GGMLType.Q2_K):
    """2-bit codes with a 4-bit scale and a 4-bit min per 16 values."""

    parallel_by_processes = True
    pass_subblocks = PASS_SUBBLOCKS
    subblocks_per_block = N_SUB
    uses_imatrix = True
    half_fields = (80, 82)

    def _quantize_pass(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        x = to_columns(rows, SUB, xp)
        if imatrix is None:
            fit = fit_affine(x, xp.abs(x), PLAIN, xp)
            lo, d = _quantize_scales(fit.scale.reshape(-1, N_SUB), xp)
            hi, dmin = _quantize_scales(fit.negmin.reshape(-1, N_SUB), xp)
            sc = to_u8(lo | (hi << 4), xp)
        else:
            sigma2 = block_sigma2(rows, QK, 1.0, xp)
            w = imatrix_weights(x, column_weights(imatrix, SUB, rows.shape[0], xp), sigma2, xp)
            sw = seq_sum0(w, xp).reshape(-1, N_SUB).T
            fit = fit_affine(x, w, WEIGHTED, xp)
            dv, lo = fit_pos_scales(xp.ascontiguousarray(fit.scale.reshape(-1, N_SUB).T), sw, 15, xp)
            mv, hi = fit_pos_scales(xp.ascontiguousarray(fit.negmin.reshape(-1, N_SUB).T), sw, 15, xp)
            sc = (lo | (hi << 4)).T.astype(xp.uint8)
            d, dmin = half_bits(dv, xp), half_bits(mv, xp)
        dq = (unhalf(d, xp)[:, None] * (sc & 15).astype(xp.float32)).reshape(-1)
        dm = (unhalf(dmin, xp)[:, None] * (sc >> 4).astype(xp.float32)).reshape(-1)
        codes = from_columns(requantize(x, dq, dm, fit.codes, NMAX, xp), QK, xp)
        c = codes.reshape(-1, 2, 4, 32)  # element 128h + 32k + l -> bits 2k..2k+1 of qs[32h + l]
        qs = (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).reshape(-1, 64)
        tail = u16_le_bytes(xp.stack([d, dmin], axis=1), xp)
        return xp.concatenate([sc, qs.astype(xp.uint8), tail], axis=1)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        blocks = data.reshape(-1, self.type_size)
        sc = blocks[:, 0:16]
        halves = unhalf(xp.ascontiguousarray(blocks[:, 80:84]).view(xp.uint16), xp)
        dq = (halves[:, 0:1] * (sc & 15).astype(xp.float32))[:, :, None]
        dm = (halves[:, 1:2] * (sc >> 4).astype(xp.float32))[:, :, None]
        qs = blocks[:, 16:80].reshape(-1, 2, 1, 32)
        codes = xp.concatenate([(qs >> shift) & 3 for shift in (0, 2, 4, 6)], axis=2)
        return (dq * codes.reshape(-1, N_SUB, SUB).astype(xp.float32) - dm).reshape(-1, QK)
