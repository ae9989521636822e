"""The original 32-value block types: Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (quant-spec 3.1-3.5).

Without an importance matrix these are ggml's ``quantize_row_*_ref`` loops: one scale per block and a
truncating or rounding conversion per value, done here as whole-array binary32 operations. With one,
Q4/Q5 switch to the weighted fits in ``legacy_imatrix`` (Q8_0 ignores it, as llama-quantize does).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.quant.kernels import legacy_imatrix as weighted
from engine.quant.kernels import positions as pm
from engine.quant.kernels.blockops import (
    F32,
    BlockKernel,
    finite_recip,
    put_bytes,
    put_half,
    read_half,
    take_nonfinite,
    unpack_high_bits,
    unpack_nibbles,
    work,
)

QK = 32
# Largest binary32 below 0.5: adding it with the sign of v and truncating is C's roundf (half away from
# zero) for every |v| < 2**23; adding 0.5 itself would round 0.49999997 up.
_JUST_BELOW_HALF = F32(0.49999997)


class _LegacyKernel(BlockKernel):
    """Shared by the five types: chunks of 512K values (2 MiB of float32).

    Each chunk pays a few dozen numpy calls, and their fixed cost outweighs the gain from staying in
    L2 below this size; above it, work arrays spill from L3 and each pass slows down.
    """

    chunk_values = 1 << 19

    def _validate(self, out: Any, xp: ModuleType, name: str) -> None:
        if take_nonfinite():  # put_half noted an inf/NaN scale in some chunk
            super()._validate(out, xp, name)


def _blocks(rows: Any) -> Any:
    return rows.reshape(-1, QK)


def _symmetric_codes(blocks: Any, xp: ModuleType, bits: int) -> tuple[Any, pm.Columns]:
    """Q4_0 / Q5_0 reference: d = max/-nmax, code = min(2nmax-1, trunc(x/d + nmax + 0.5)).

    Returns the scales and the codes in columns. The value before truncation lies in [0, 2nmax + 0.5],
    so only code 2nmax needs the clamp.
    """
    nmax = 1 << (bits - 1)
    cols = pm.columns(blocks, xp)
    lo, hi = pm.extremes(blocks, cols, xp, signed_zero=False)
    d = pm.signed_absmax(blocks, lo, hi, xp) / F32(-nmax)
    inv, overflow = finite_recip(d, xp)
    v = cols.values
    v *= pm.spread(inv, cols, xp, pm.FOLD_HI)
    codes = cols.like(pm.clamp_top(pm.add_truncate(v, F32(nmax + 0.5), xp.uint8, xp), bits, xp))
    return d, pm.zero_blocks(codes, overflow, xp)


def _affine_codes(blocks: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, pm.Columns]:
    """Q4_1 / Q5_1 reference: d = (max-min)/nmax, code = trunc((x-min)/d + 0.5), codes in columns.

    Q4_1's ``MIN(15, ...)`` never bites: a finite 1/d has at least 21 significant bits, so
    (x-min)/d + 0.5 stays below nmax + 0.5 + 2**-17 and truncates to nmax at most.
    """
    cols = pm.columns(blocks, xp)
    mn, mx = pm.extremes(blocks, cols, xp)
    # max - min is never -0.0 in C (both scans stop at the same first zero); adding +0.0 matches that.
    d = (mx - mn) / F32(nmax) + F32(0.0)
    inv, overflow = finite_recip(d, xp)
    v = cols.values
    v -= pm.spread(mn, cols, xp, pm.FOLD_LO)
    v *= pm.spread(inv, cols, xp, pm.FOLD_HI)
    return d, mn, pm.zero_blocks(cols.like(pm.add_truncate(v, F32(0.5), xp.uint8, xp)), overflow, xp)


def _round_away(v: Any, xp: ModuleType) -> Any:
    """C's roundf of float32 |v| < 2**23 as uint8 bytes of int8: trunc(v + copysign(0.49999997, v)),
    with the sign moved in as a bit (numpy's copysign is slow)."""
    half = work(pm.MAGNITUDES, v.shape, xp.uint32, xp)
    xp.bitwise_and(v.view(xp.uint32), xp.uint32(0x80000000), out=half)
    half |= xp.uint32(_JUST_BELOW_HALF.view(np.uint32))
    return pm.add_truncate(v, half.view(xp.float32), xp.int8, xp).view(xp.uint8)


def _weighted_symmetric(rows: Any, imatrix: Any, xp: ModuleType, nmax: int) -> tuple[Any, pm.Columns]:
    d, codes = weighted.symmetric(rows, imatrix, xp, nmax)
    return d, pm.Columns(codes, 1)


def _weighted_affine(rows: Any, imatrix: Any, xp: ModuleType, nmax: int) -> tuple[Any, Any, pm.Columns]:
    d, m, codes = weighted.affine(rows, imatrix, xp, nmax)
    return d, m, pm.Columns(codes, 1)


def _symmetric_values(blocks: Any, xp: ModuleType, offset: int, codes: Any) -> Any:
    d = read_half(blocks, 0, xp)
    return (codes.astype(xp.float32) - F32(offset)) * d[:, None]


def _affine_values(blocks: Any, xp: ModuleType, codes: Any) -> Any:
    d, m = read_half(blocks, 0, xp), read_half(blocks, 2, xp)
    return codes.astype(xp.float32) * d[:, None] + m[:, None]


class Q8_0Kernel(_LegacyKernel, qtype=GGMLType.Q8_0):
    """8-bit symmetric: d = amax/127, q = roundf(x/d). llama-quantize never weights it."""

    half_fields = (0,)

    def _write(self, out: Any, rows: Any, xp: ModuleType, imatrix: Any | None) -> None:
        cols = pm.columns(_blocks(rows), xp)
        d = pm.abs_max(cols, xp) / F32(127.0)
        inv, overflow = finite_recip(d, xp)
        v = cols.values
        v *= pm.spread(inv, cols, xp, pm.FOLD_HI)
        put_half(out, 0, d, xp)
        pm.put_columns(out, 2, pm.zero_blocks(cols.like(_round_away(v, xp)), overflow, xp), xp)

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        q = xp.ascontiguousarray(blocks[:, 2:]).view(xp.int8)
        return q.astype(xp.float32) * read_half(blocks, 0, xp)[:, None]


class Q4_0Kernel(_LegacyKernel, qtype=GGMLType.Q4_0):
    """4-bit symmetric, offset 8: the value of largest magnitude maps to code 0."""

    uses_imatrix = True
    half_fields = (0,)

    def _write(self, out: Any, rows: Any, xp: ModuleType, imatrix: Any | None) -> None:
        if imatrix is None:
            d, codes = _symmetric_codes(_blocks(rows), xp, 4)
        else:
            d, codes = _weighted_symmetric(rows, imatrix, xp, 8)
        put_half(out, 0, d, xp)
        pm.put_columns(out, 2, pm.pack_nibbles(codes, xp, masked=False), xp)

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        return _symmetric_values(blocks, xp, 8, unpack_nibbles(blocks[:, 2:], xp))


class Q4_1Kernel(_LegacyKernel, qtype=GGMLType.Q4_1):
    """4-bit affine: scale d and minimum m, value = d*code + m."""

    uses_imatrix = True
    half_fields = (0, 2)

    def _write(self, out: Any, rows: Any, xp: ModuleType, imatrix: Any | None) -> None:
        if imatrix is None:
            d, m, codes = _affine_codes(_blocks(rows), xp, 15)
        else:
            d, m, codes = _weighted_affine(rows, imatrix, xp, 15)
        put_half(out, 0, d, xp)
        put_half(out, 2, m, xp)
        pm.put_columns(out, 4, pm.pack_nibbles(codes, xp, masked=False), xp)

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        return _affine_values(blocks, xp, unpack_nibbles(blocks[:, 4:], xp))


class Q5_0Kernel(_LegacyKernel, qtype=GGMLType.Q5_0):
    """5-bit symmetric, offset 16; the fifth bits of all 32 codes sit in one u32."""

    uses_imatrix = True
    half_fields = (0,)

    def _write(self, out: Any, rows: Any, xp: ModuleType, imatrix: Any | None) -> None:
        if imatrix is None:
            d, codes = _symmetric_codes(_blocks(rows), xp, 5)
        else:
            d, codes = _weighted_symmetric(rows, imatrix, xp, 16)
        put_half(out, 0, d, xp)
        put_bytes(out, 2, pm.pack_high_bits(codes, xp), xp)
        pm.put_columns(out, 6, pm.pack_nibbles(codes, xp), xp)

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        codes = unpack_nibbles(blocks[:, 6:], xp) | unpack_high_bits(blocks[:, 2:6], xp)
        return _symmetric_values(blocks, xp, 16, codes)


class Q5_1Kernel(_LegacyKernel, qtype=GGMLType.Q5_1):
    """5-bit affine: d, m, then the u32 of fifth bits and the low nibbles."""

    uses_imatrix = True
    half_fields = (0, 2)

    def _write(self, out: Any, rows: Any, xp: ModuleType, imatrix: Any | None) -> None:
        if imatrix is None:
            d, m, codes = _affine_codes(_blocks(rows), xp, 31)
        else:
            d, m, codes = _weighted_affine(rows, imatrix, xp, 31)
        put_half(out, 0, d, xp)
        put_half(out, 2, m, xp)
        put_bytes(out, 4, pm.pack_high_bits(codes, xp), xp)
        pm.put_columns(out, 8, pm.pack_nibbles(codes, xp), xp)

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        codes = unpack_nibbles(blocks[:, 8:], xp) | unpack_high_bits(blocks[:, 4:8], xp)
        return _affine_values(blocks, xp, codes)
