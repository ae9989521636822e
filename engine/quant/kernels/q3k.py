"""Q3_K (110 bytes per 256 values): 16 sub-blocks of 16, signed 6-bit sub-scales, 3-bit codes.

Block layout (quant-spec 3.8): ``[0:32] hmask`` (high code bit of element p at ``hmask[p % 32]`` bit
``p // 32``), ``[32:96] qs`` (low 2 bits, packed like Q2_K), ``[96:108] scales`` (6-bit codes with offset
32), ``[108:110] d`` (binary16). Without an imatrix each sub-block is fitted by ``fit_q3`` and the
sub-scales are rounded against the largest one; with an imatrix (4.3) both levels use ``fit_sym``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.quant.kernels.kmath_qx import fit_q3, fit_sym, imatrix_weights, round_sym, seq_sum0, signed_absmax
from engine.quant.kernels.numeric import half_bits, rne, u16_le_bytes, unhalf
from engine.quant.registry import Kernel

QK_K = 256
_OFF_QS, _OFF_SCALES, _OFF_D = 32, 96, 108


class Q3KKernel(Kernel, qtype=GGMLType.Q3_K):
    """llama.cpp's Q3_K, byte for byte (``quantize_row_q3_K_ref`` / ``quantize_row_q3_K_impl``)."""

    parallel_by_processes = True
    uses_imatrix = True
    half_fields = (_OFF_D,)
    # fit_q3 pays per call for its last few sweep rounds; 512K values amortise them.
    chunk_values = 1 << 19

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        with np.errstate(all="ignore"):  # overflow to inf/NaN is silent in ggml's C code too
            return _quantize(rows, xp, imatrix)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return _dequantize(data, xp)


def _quantize(rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
    """float32 rows (n_rows, k*256) -> packed blocks (n_rows, k*110)."""
    n_rows = rows.shape[0]
    blocks = rows.reshape(-1, QK_K)
    n_blocks = blocks.shape[0]
    if imatrix is None:
        sub_scales, codes = fit_q3(blocks.reshape(-1, 16).T, 4, xp)  # element-major view (16, n_sub)
        scale_codes, d = _ref_scale_codes(sub_scales.reshape(n_blocks, 16), xp)
    else:
        x = xp.ascontiguousarray(blocks.reshape(-1, 16).T)  # element-major (16, n_sub)
        w = xp.ascontiguousarray(imatrix_weights(blocks, imatrix, n_rows, xp).reshape(-1, 16).T)
        sub_scales, codes = fit_sym(x, w, 4, xp)
        sum_w = xp.ascontiguousarray(seq_sum0(w, xp).reshape(n_blocks, 16).T)
        d, scale_codes = fit_sym(xp.ascontiguousarray(sub_scales.reshape(n_blocks, 16).T), sum_w, 32, xp)
        scale_codes = scale_codes.T
    d_bits = half_bits(d, xp)
    levels = _requantize(blocks, codes.T.reshape(n_blocks, QK_K), scale_codes, unhalf(d_bits, xp), xp)
    return _pack(levels, scale_codes, d_bits, xp).reshape(n_rows, -1)


def _dequantize(data: Any, xp: ModuleType) -> Any:
    """Packed blocks (n_rows, k*110) -> float32 f32(f32(d*(c-32)) * (low2 - 4*(1-hbit)))."""
    blocks = xp.ascontiguousarray(data).reshape(-1, 110)
    n_blocks = blocks.shape[0]
    d = unhalf(blocks[:, _OFF_D].astype(xp.uint16) | (blocks[:, _OFF_D + 1].astype(xp.uint16) << 8), xp)
    sub = d[:, None] * (_unpack_scales(blocks[:, _OFF_SCALES:_OFF_D], xp) - 32).astype(xp.float32)
    qs = blocks[:, _OFF_QS:_OFF_SCALES].reshape(n_blocks, 2, 1, 32)
    low = (qs >> xp.asarray([0, 2, 4, 6], dtype=xp.uint8).reshape(1, 1, 4, 1)) & 3
    hm = blocks[:, :_OFF_QS].reshape(n_blocks, 1, 32)
    high = (hm >> xp.arange(8, dtype=xp.uint8).reshape(1, 8, 1)) & 1
    value = low.reshape(n_blocks, QK_K).astype(xp.int8) - (1 - high.reshape(n_blocks, QK_K).astype(xp.int8)) * 4
    value = value.reshape(n_blocks, 16, 16).astype(xp.float32)
    return (sub[:, :, None] * value).reshape(data.shape[0], -1)


def _ref_scale_codes(sub_scales: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Round the 16 sub-scales of each block against the one of largest magnitude (no imatrix).

    Returns 6-bit codes (n_blocks, 16) with offset 32 (all 0 when every sub-scale is 0) and the
    unrounded super-scale d = f32(1 / f32(-32 / M)).
    """
    m = signed_absmax(sub_scales.T, xp)
    has = m != 0
    iscale = xp.float32(-32) / xp.where(has, m, xp.float32(1))
    lev = rne(iscale[:, None] * sub_scales, xp)
    lev = ((lev + 128) & 255) - 128  # C stores nearest_int(...) in an int8 before clamping
    codes = xp.where(has[:, None], xp.clip(lev, -32, 31) + 32, 0).astype(xp.uint8)
    d = xp.where(has, xp.float32(1) / iscale, xp.float32(0))
    return codes, d


def _requantize(blocks: Any, levels: Any, scale_codes: Any, d: Any, xp: ModuleType) -> Any:
    """Codes 0..7 recomputed with the stored (binary16) super-scale; zero-scale sub-blocks keep the fit."""
    n_blocks = blocks.shape[0]
    q = d[:, None] * (scale_codes.astype(xp.int16) - 32).astype(xp.float32)
    zero = q == 0
    v = blocks.reshape(n_blocks, 16, 16) / xp.where(zero, xp.float32(1), q)[:, :, None]
    v = round_sym(v, 4, xp)
    out = xp.add(v, xp.float32(4), out=v).astype(xp.uint8)
    if bool(xp.any(zero)):
        out[zero] = levels.reshape(n_blocks, 16, 16)[zero]
    return out.reshape(n_blocks, QK_K)


def _pack(levels: Any, scale_codes: Any, d_bits: Any, xp: ModuleType) -> Any:
    """Assemble the 110-byte blocks from codes 0..7, 6-bit scale codes and binary16 d.

    The codes are handled as 64-bit lanes of eight: masking before each shift keeps every bit inside
    its own byte, so one lane operation does eight byte operations (in either byte order).
    """
    n_blocks = levels.shape[0]
    lanes = xp.ascontiguousarray(levels).view(xp.uint64).reshape(n_blocks, 8, 4)  # [j, q]: codes 32j + 8q..
    high = (lanes >> xp.uint64(2)) & xp.uint64(0x0101010101010101)
    hmask = high[:, 0]
    for bit in range(1, 8):
        hmask = hmask | (high[:, bit] << xp.uint64(bit))  # byte m of hmask: bit j = high bit of code 32j + m
    low = (lanes & xp.uint64(0x0303030303030303)).reshape(n_blocks, 2, 4, 4)  # [h, k, q]: 128h + 32k + 8q..
    qs = low[:, :, 0]
    for k in range(1, 4):
        qs = qs | (low[:, :, k] << xp.uint64(2 * k))  # qs byte 32h + l, bits 2k..2k+1: code 128h + 32k + l
    parts = [
        xp.ascontiguousarray(hmask).view(xp.uint8),
        xp.ascontiguousarray(qs).view(xp.uint8).reshape(n_blocks, 64),
        _pack_scales(scale_codes, xp),
        u16_le_bytes(d_bits[:, None], xp),
    ]
    return xp.concatenate(parts, axis=1)


def _pack_scales(codes: Any, xp: ModuleType) -> Any:
    """16 six-bit codes -> 12 bytes: low nibbles in bytes 0..7, top 2 bits of code 4q+r at byte 8+r, bit 2q."""
    low = (codes[:, :8] & 15) | ((codes[:, 8:] & 15) << 4)
    top = (codes >> 4).reshape(-1, 4, 4)
    high = top[:, 0] | (top[:, 1] << 2) | (top[:, 2] << 4) | (top[:, 3] << 6)
    return xp.concatenate([low, high], axis=1).astype(xp.uint8)


def _unpack_scales(packed: Any, xp: ModuleType) -> Any:
    """12 bytes -> 16 six-bit codes (0..63), the inverse of ``_pack_scales``."""
    low = xp.concatenate([packed[:, :8] & 15, packed[:, :8] >> 4], axis=1)
    high = (packed[:, 8:12].reshape(-1, 1, 4) >> xp.asarray([0, 2, 4, 6], dtype=xp.uint8).reshape(1, 4, 1)) & 3
    return (low | (high.reshape(-1, 16) << 4)).astype(xp.int16)
