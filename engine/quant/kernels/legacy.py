"""The original 32-value block types: Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (quant-spec 3.1-3.5).

Without an importance matrix these are ggml's ``quantize_row_*_ref`` loops: one scale per block and a
truncating or rounding conversion per value, done here as whole-array binary32 operations. With one,
Q4/Q5 switch to the weighted fits in ``legacy_imatrix`` (Q8_0 ignores it, as llama-quantize does).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from engine.formats.ggml_types import GGMLType
from engine.quant.kernels import legacy_imatrix as weighted
from engine.quant.kernels import positions as pm
from engine.quant.kernels.blockops import (
    F32,
    BlockKernel,
    finite_recip,
    half_bytes,
    read_half,
    unpack_high_bits,
    unpack_nibbles,
)

QK = 32
# Largest binary32 below 0.5: adding it with the sign of v and truncating is C's roundf (half away from
# zero) for every |v| < 2**23; adding 0.5 itself would round 0.49999997 up.
_JUST_BELOW_HALF = F32(0.49999997)


def _blocks(rows: Any) -> Any:
    return rows.reshape(-1, QK)


def _symmetric_codes(blocks: Any, xp: ModuleType, bits: int) -> tuple[Any, Any]:
    """Q4_0 / Q5_0 reference: d = max/-nmax, code = min(2nmax-1, trunc(x/d + nmax + 0.5)).

    Returns the scales and position-major codes (32, n). The value before truncation lies in
    [0, 2nmax + 0.5], so only code 2nmax needs the clamp.
    """
    nmax = 1 << (bits - 1)
    cols = pm.transpose(blocks, xp)
    lo, hi = pm.extremes(blocks, cols, xp, signed_zero=False)
    d = pm.signed_absmax(blocks, lo, hi, xp) / F32(-nmax)
    inv, overflow = finite_recip(d, xp)
    codes = (cols * inv + F32(nmax + 0.5)).astype(xp.uint8)
    return d, pm.zero_blocks(pm.clamp_top(codes, bits, xp), overflow, xp)


def _affine_codes(blocks: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, Any]:
    """Q4_1 / Q5_1 reference: d = (max-min)/nmax, code = trunc((x-min)/d + 0.5), position-major codes.

    Q4_1's ``MIN(15, ...)`` never bites: a finite 1/d has at least 21 significant bits, so
    (x-min)/d + 0.5 stays below nmax + 0.5 + 2**-17 and truncates to nmax at most.
    """
    cols = pm.transpose(blocks, xp)
    mn, mx = pm.extremes(blocks, cols, xp)
    # max - min is never -0.0 in C (both scans stop at the same first zero); adding +0.0 matches that.
    d = (mx - mn) / F32(nmax) + F32(0.0)
    inv, overflow = finite_recip(d, xp)
    codes = ((cols - mn) * inv + F32(0.5)).astype(xp.uint8)
    return d, mn, pm.zero_blocks(codes, overflow, xp)


def _symmetric_values(blocks: Any, xp: ModuleType, offset: int, codes: Any) -> Any:
    d = read_half(blocks, 0, xp)
    return (codes.astype(xp.float32) - F32(offset)) * d[:, None]


def _affine_values(blocks: Any, xp: ModuleType, codes: Any) -> Any:
    d, m = read_half(blocks, 0, xp), read_half(blocks, 2, xp)
    return codes.astype(xp.float32) * d[:, None] + m[:, None]


class Q8_0Kernel(BlockKernel, qtype=GGMLType.Q8_0):
    """8-bit symmetric: d = amax/127, q = roundf(x/d). llama-quantize never weights it."""

    half_fields = (0,)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        blocks = _blocks(rows)
        d = pm.abs_max(pm.transpose(blocks, xp), xp) / F32(127.0)
        inv, overflow = finite_recip(d, xp)
        v = blocks * inv[:, None]
        q = (v + xp.copysign(_JUST_BELOW_HALF, v)).astype(xp.int8).view(xp.uint8)
        return [half_bytes(d, xp), pm.zero_blocks(q.T, overflow, xp).T]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        q = xp.ascontiguousarray(blocks[:, 2:]).view(xp.int8)
        return q.astype(xp.float32) * read_half(blocks, 0, xp)[:, None]


class Q4_0Kernel(BlockKernel, qtype=GGMLType.Q4_0):
    """4-bit symmetric, offset 8: the value of largest magnitude maps to code 0."""

    uses_imatrix = True
    half_fields = (0,)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        if imatrix is None:
            d, codes = _symmetric_codes(_blocks(rows), xp, 4)
        else:
            d, codes = weighted.symmetric(rows, imatrix, xp, 8)
        return [half_bytes(d, xp), pm.pack_nibbles(codes, xp)]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        return _symmetric_values(blocks, xp, 8, unpack_nibbles(blocks[:, 2:], xp))


class Q4_1Kernel(BlockKernel, qtype=GGMLType.Q4_1):
    """4-bit affine: scale d and minimum m, value = d*code + m."""

    uses_imatrix = True
    half_fields = (0, 2)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        if imatrix is None:
            d, m, codes = _affine_codes(_blocks(rows), xp, 15)
        else:
            d, m, codes = weighted.affine(rows, imatrix, xp, 15)
        return [half_bytes(d, xp), half_bytes(m, xp), pm.pack_nibbles(codes, xp)]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        return _affine_values(blocks, xp, unpack_nibbles(blocks[:, 4:], xp))


class Q5_0Kernel(BlockKernel, qtype=GGMLType.Q5_0):
    """5-bit symmetric, offset 16; the fifth bits of all 32 codes sit in one u32."""

    uses_imatrix = True
    half_fields = (0,)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        if imatrix is None:
            d, codes = _symmetric_codes(_blocks(rows), xp, 5)
        else:
            d, codes = weighted.symmetric(rows, imatrix, xp, 16)
        return [half_bytes(d, xp), pm.pack_high_bits(codes, xp), pm.pack_nibbles(codes, xp)]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        codes = unpack_nibbles(blocks[:, 6:], xp) | unpack_high_bits(blocks[:, 2:6], xp)
        return _symmetric_values(blocks, xp, 16, codes)


class Q5_1Kernel(BlockKernel, qtype=GGMLType.Q5_1):
    """5-bit affine: d, m, then the u32 of fifth bits and the low nibbles."""

    uses_imatrix = True
    half_fields = (0, 2)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        if imatrix is None:
            d, m, codes = _affine_codes(_blocks(rows), xp, 31)
        else:
            d, m, codes = weighted.affine(rows, imatrix, xp, 31)
        return [half_bytes(d, xp), half_bytes(m, xp), pm.pack_high_bits(codes, xp), pm.pack_nibbles(codes, xp)]

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        codes = unpack_nibbles(blocks[:, 8:], xp) | unpack_high_bits(blocks[:, 4:8], xp)
        return _affine_values(blocks, xp, codes)
