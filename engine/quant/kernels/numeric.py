"""Float32 primitives that must round exactly as ggml's C code does.

All helpers keep binary32 throughout; ``seq_sum`` adds left to right like a C loop (numpy's ``sum`` is
pairwise and would round differently).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

MAGIC = 12582912.0  # 1.5 * 2**23: adding it leaves the rounded integer in the low mantissa bits


def rne(v: Any, xp: ModuleType) -> Any:
    """ggml's nearest_int: round half to even via the 1.5*2^23 trick, garbage-in kept literal."""
    t = (v.astype(xp.float32) + xp.float32(MAGIC)).astype(xp.float32)
    return (t.view(xp.int32) & 0x007FFFFF) - 0x00400000


def half_bits(v: Any, xp: ModuleType) -> Any:
    """binary32 -> binary16 bits (uint16), NaN written as sign | 0x7E00 like ggml."""
    v = v.astype(xp.float32)
    h = v.astype(xp.float16).view(xp.uint16)
    return xp.where(xp.isnan(v), (h & 0x8000) | 0x7E00, h).astype(xp.uint16)


def unhalf(bits: Any, xp: ModuleType) -> Any:
    """binary16 bits (uint16) -> binary32, exact."""
    return bits.astype(xp.uint16).view(xp.float16).astype(xp.float32)


def round_half(v: Any, xp: ModuleType) -> Any:
    """Round binary32 values through binary16 and back (what storing a scale as f16 does)."""
    return unhalf(half_bits(v, xp), xp)


def seq_sum(a: Any, xp: ModuleType) -> Any:
    """Sum over the last axis strictly left to right in binary32, like a C ``for`` loop."""
    acc = xp.zeros(a.shape[:-1], dtype=xp.float32)
    for i in range(a.shape[-1]):
        acc = acc + a[..., i]
    return acc


def u16_le_bytes(bits: Any, xp: ModuleType) -> Any:
    """uint16 array (..., k) -> uint8 array (..., 2k), little-endian."""
    bits = xp.ascontiguousarray(bits.astype(xp.uint16))
    return bits.view(xp.uint8).reshape(*bits.shape[:-1], bits.shape[-1] * 2)
