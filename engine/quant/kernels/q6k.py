"""Q6_K (210 bytes per 256 values): 16 sub-blocks of 16, int8 sub-scales, 6-bit codes.

Block layout (quant-spec 3.11): ``[0:128] ql`` (low nibbles), ``[128:192] qh`` (top 2 bits),
``[192:208] scales`` (int8), ``[208:210] d`` (binary16). Element ``p = 128h + 32k + l`` takes its low
nibble from ``ql[64h + 32*(k % 2) + l]`` (high nibble when k >= 2) and its top bits from
``qh[32h + l] >> 2k``. Every sub-block is fitted with ``fit_sym`` (weights x*x, or the raw imatrix).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.quant.kernels.kmath_qx import GROUP_MAX_EPS, fit_sym, signed_absmax
from engine.quant.kernels.numeric import half_bits, rne, u16_le_bytes, unhalf
from engine.quant.registry import Kernel

QK_K = 256
_OFF_QH, _OFF_SCALES, _OFF_D = 128, 192, 208


class Q6KKernel(Kernel, qtype=GGMLType.Q6_K):
    """llama.cpp's Q6_K, byte for byte (``quantize_row_q6_K_ref`` / ``quantize_row_q6_K_impl``)."""

    parallel_by_processes = True
    uses_imatrix = True
    half_fields = (_OFF_D,)

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        with np.errstate(all="ignore"):  # overflow to inf/NaN is silent in ggml's C code too
            return _quantize(rows, xp, imatrix)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return _dequantize(data, xp)


def _quantize(rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
    """float32 rows (n_rows, k*256) -> packed blocks (n_rows, k*210)."""
    n_rows = rows.shape[0]
    blocks = rows.reshape(-1, QK_K)
    n_blocks = blocks.shape[0]
    x = xp.ascontiguousarray(blocks.reshape(-1, 16).T)  # element-major (16, n_sub)
    if imatrix is None:
        w = x * x
    else:  # the raw importance, no sigma term (quant-spec 4.3)
        w = xp.tile(xp.ascontiguousarray(imatrix.reshape(-1, 16).T), (1, n_rows))
    sub_scales, codes = fit_sym(x, w, 32, xp)
    sub_scales = sub_scales.reshape(n_blocks, 16)
    m = signed_absmax(sub_scales.T, xp)
    empty = xp.abs(m) < xp.float32(GROUP_MAX_EPS)
    iscale = xp.float32(-128) / xp.where(empty, xp.float32(1), m)
    scale_codes = xp.minimum(127, rne(iscale[:, None] * sub_scales, xp))
    scale_codes = (((scale_codes + 128) & 255) - 128).astype(xp.int8)  # stored in an int8 field
    d_bits = half_bits(xp.float32(1) / iscale, xp)
    levels = _requantize(blocks, codes.T.reshape(n_blocks, QK_K), scale_codes, unhalf(d_bits, xp), xp)
    out = _pack(levels, scale_codes, d_bits, xp)
    out = xp.where(empty[:, None], xp.uint8(0), out)  # ggml zeroes the whole block
    return out.reshape(n_rows, -1)


def _dequantize(data: Any, xp: ModuleType) -> Any:
    """Packed blocks (n_rows, k*210) -> float32 f32(f32(d*sc) * (code-32))."""
    blocks = xp.ascontiguousarray(data).reshape(-1, 210)
    n_blocks = blocks.shape[0]
    d = unhalf(blocks[:, _OFF_D].astype(xp.uint16) | (blocks[:, _OFF_D + 1].astype(xp.uint16) << 8), xp)
    sub = d[:, None] * blocks[:, _OFF_SCALES:_OFF_D].view(xp.int8).astype(xp.float32)
    ql = blocks[:, :_OFF_QH].reshape(n_blocks, 2, 1, 2, 32)
    low = (ql >> xp.asarray([0, 4], dtype=xp.uint8).reshape(1, 1, 2, 1, 1)) & 15
    qh = blocks[:, _OFF_QH:_OFF_SCALES].reshape(n_blocks, 2, 1, 32)
    high = (qh >> xp.asarray([0, 2, 4, 6], dtype=xp.uint8).reshape(1, 1, 4, 1)) & 3
    code = low.reshape(n_blocks, QK_K) | (high.reshape(n_blocks, QK_K) << 4)
    value = code.astype(xp.float32) - xp.float32(32)
    return (sub[:, :, None] * value.reshape(n_blocks, 16, 16)).reshape(data.shape[0], -1)


def _requantize(blocks: Any, levels: Any, scale_codes: Any, d: Any, xp: ModuleType) -> Any:
    """Codes 0..63 recomputed with the stored (binary16) super-scale; zero sub-scales keep the fit."""
    n_blocks = blocks.shape[0]
    q = d[:, None] * scale_codes.astype(xp.float32)
    nonzero = q != 0
    x = blocks.reshape(n_blocks, 16, 16)
    new = xp.clip(rne(x / xp.where(nonzero, q, xp.float32(1))[:, :, None], xp), -32, 31) + 32
    out = xp.where(nonzero[:, :, None], new, levels.reshape(n_blocks, 16, 16))
    return out.astype(xp.uint8).reshape(n_blocks, QK_K)


def _pack(levels: Any, scale_codes: Any, d_bits: Any, xp: ModuleType) -> Any:
    """Assemble the 210-byte blocks from codes 0..63, int8 sub-scales and binary16 d."""
    n_blocks = levels.shape[0]
    lv = levels.reshape(n_blocks, 2, 4, 32)  # [h, k, l] for element 128h + 32k + l
    low = lv & 15
    ql = low[:, :, 0:2] | (low[:, :, 2:4] << 4)  # [h, k % 2, l]
    top = lv >> 4
    qh = top[:, :, 0] | (top[:, :, 1] << 2) | (top[:, :, 2] << 4) | (top[:, :, 3] << 6)
    parts = [
        ql.reshape(n_blocks, 128),
        qh.reshape(n_blocks, 64),
        scale_codes.view(xp.uint8),
        u16_le_bytes(d_bits[:, None], xp),
    ]
    return xp.concatenate(parts, axis=1)
