"""Position-major helpers for the reference (no-imatrix) legacy quantizers.

numpy reduces a 32-long axis slowly (a C call per block), but a chunk transposed to (32, n_blocks) turns
every per-block reduction into five elementwise halvings and every per-value step into contiguous vector
work. These helpers keep ggml's exact results: first-occurrence rules are restored where a plain
min/max could differ (ties of opposite sign, signed zeros).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.kernels.blockops import F32

_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_BYTE_LSB = np.uint64(0x0101010101010101)
_BIT_WEIGHTS = (np.uint8(1) << np.arange(8, dtype=np.uint8))[:, None]


_TILE = 256  # blocks per transposed tile: 32 KiB of input, so each tile stays in L1


def transpose(blocks: Any, xp: ModuleType) -> Any:
    """(n, 32) -> contiguous (32, n); numpy goes tile by tile, 1.5x faster than one big transpose."""
    if xp is not np:
        return xp.ascontiguousarray(blocks.T)
    out = np.empty((blocks.shape[1], blocks.shape[0]), dtype=blocks.dtype)
    for i in range(0, blocks.shape[0], _TILE):
        out[:, i : i + _TILE] = blocks[i : i + _TILE].T
    return out


def extremes(blocks: Any, cols: Any, xp: ModuleType, *, signed_zero: bool = True) -> tuple[Any, Any]:
    """Per block: the minimum and the maximum; NaN propagates into both.

    With ``signed_zero`` a zero minimum carries the sign of the block's first zero, as ggml's running
    minimum (strict ``<``) does; only types that store the minimum need that.
    """
    lo = hi = cols
    while lo.shape[0] > 1:
        h = lo.shape[0] // 2
        lo, hi = xp.minimum(lo[:h], lo[h:]), xp.maximum(hi[:h], hi[h:])
    lo = lo[0]
    if not signed_zero:
        return lo, hi[0]
    zero = lo == 0  # min() may return either zero; the C scan keeps the first one it met
    if bool(xp.any(zero)):
        sub = blocks[zero]
        lo[zero] = sub[xp.arange(sub.shape[0]), xp.argmax(sub == 0, axis=-1)]
    return lo, hi[0]


def abs_max(cols: Any, xp: ModuleType) -> Any:
    """Per block: max |x| (NaN if the block holds one)."""
    a = xp.abs(cols)
    while a.shape[0] > 1:
        h = a.shape[0] // 2
        a = xp.maximum(a[:h], a[h:])
    return a[0]


def signed_absmax(blocks: Any, lo: Any, hi: Any, xp: ModuleType) -> Any:
    """The signed value of the first strictly largest |x| (ggml's scan), from the block extremes.

    Only when both +a and -a reach the largest magnitude does the position matter; those rare blocks
    are scanned with argmax. A zero block gives +0.0 (the scan's start value); NaN gives NaN.
    """
    neg = -lo
    m = xp.where(hi >= neg, hi, lo) + F32(0.0)
    tie = hi == neg
    if bool(xp.any(tie)):
        tie = tie & (hi > 0)  # zero blocks tie harmlessly
        if bool(xp.any(tie)):
            sub = blocks[tie]
            m[tie] = sub[xp.arange(sub.shape[0]), xp.argmax(xp.abs(sub), axis=-1)]
    return m


def zero_blocks(codes: Any, mask: Any | None, xp: ModuleType) -> Any:
    """Codes (32, n) with every column in ``mask`` set to 0 (``None``: no column)."""
    if mask is not None and bool(xp.any(mask)):
        codes = xp.where(mask[None, :], xp.zeros((), dtype=codes.dtype), codes)
    return codes


def clamp_top(codes: Any, bits: int, xp: ModuleType) -> Any:
    """uint8 codes in 0..2**bits -> min(code, 2**bits - 1); only the top value moves, by one.

    numpy subtracts bit ``bits`` of each byte in uint64 lanes (no borrow: a byte with that bit set is
    at least 1), many times faster than a byte-wise minimum.
    """
    if xp is not np:
        return xp.minimum(codes, (1 << bits) - 1).astype(xp.uint8)
    lanes = codes.reshape(-1).view(np.uint64)
    return (lanes - ((lanes >> np.uint64(bits)) & _BYTE_LSB)).view(np.uint8).reshape(codes.shape)


def pack_nibbles(codes: Any, xp: ModuleType) -> Any:
    """Codes (32, n) -> block bytes (n, 16): low nibble = element j, high nibble = element j+16."""
    if xp is np:
        lo = codes[:16].reshape(-1).view(np.uint64) & _LOW_NIBBLES
        hi = codes[16:].reshape(-1).view(np.uint64) & _LOW_NIBBLES
        packed = (lo | (hi << np.uint64(4))).view(np.uint8).reshape(16, -1)
    else:
        packed = (codes[:16] & 0x0F) | ((codes[16:] & 0x0F) << 4)
    return xp.ascontiguousarray(packed.T)


def pack_high_bits(codes: Any, xp: ModuleType) -> Any:
    """Codes (32, n) -> (n, 4) bytes of the u32 whose bit i is bit 4 of element i."""
    if xp is np:
        bits = ((codes.reshape(-1).view(np.uint64) >> np.uint64(4)) & _BYTE_LSB).view(np.uint8)
    else:
        bits = (codes >> 4) & 1
    weighted = bits.reshape(4, 8, -1) * xp.asarray(_BIT_WEIGHTS)
    return xp.ascontiguousarray(xp.sum(weighted, axis=1, dtype=xp.uint8).T)
