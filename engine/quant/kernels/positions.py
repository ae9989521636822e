"""Position-major helpers for the reference (no-imatrix) legacy quantizers.

numpy reduces a 32-long axis slowly (a C call per block), but a chunk transposed to position-major order
turns every per-block reduction into one reduction over rows and every per-value step into contiguous
vector work. numpy moves whole 16-byte groups of four values when it transposes (over twice as fast as
moving single values), so its columns keep four neighbouring positions of a block together; ``Columns``
describes either layout. Big intermediates live in per-thread work arrays (``blockops.work``).

These helpers keep ggml's exact results: first-occurrence rules are restored where a plain min/max
could differ (ties of opposite sign, signed zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.kernels.blockops import F32, put_bytes, work

QK = 32
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_BYTE_LSB = np.uint64(0x0101010101010101)
_BIT_WEIGHTS = (np.uint8(1) << np.arange(8, dtype=np.uint8))[:, None]
# numpy's lanes: (x * this) >> 24 gathers bit 0 of each byte of a u32 into its low four bits.
_GATHER_BYTE_BITS = np.uint32(0x01020408)
_LANE_SHIFTS = (4 * np.arange(QK // 4, dtype=np.uint32))[:, None]
_TWICE = np.uint64(0x100000001)
# Work arrays (``blockops.work``) are named by buffer, and a buffer is reused once what it held is dead:
# the columns' values are spent once the codes are taken from them, and then hold the temporaries of
# clamping and packing; the two folds' results give way to the ``spread`` copies (keys FOLD_LO/FOLD_HI);
# Q8_0's magnitudes, once folded, to its rounding offsets.
SPENT_VALUES, FOLD_LO, FOLD_HI, MAGNITUDES = "columns", "fold_lo", "fold_hi", "magnitudes"
NP_LANES = 4  # values per moved group on numpy (a complex128 is four float32)
_GROUP_TILE = 1024  # blocks per transposed tile of ``columns``: 128 KiB of input


@dataclass(frozen=True, slots=True)
class Columns:
    """A chunk of n blocks in position-major order, ``lanes`` neighbouring positions kept together.

    ``values`` is (32 // lanes, n * lanes): ``values[p, b * lanes + e]`` is element ``p * lanes + e``
    of block b. Per-block arrays broadcast against it after ``spread``.
    """

    values: Any
    lanes: int

    def like(self, values: Any) -> Columns:
        """Other per-value data (codes, say) in this layout."""
        return Columns(values, self.lanes)


def columns(blocks: Any, xp: ModuleType) -> Columns:
    """(n, 32) float32 blocks -> Columns in this thread's work array (four lanes on numpy), which
    callers may overwrite: every call copies."""
    n = blocks.shape[0]
    if xp is not np:
        values = work(SPENT_VALUES, (QK, n), xp.float32, xp)
        values[...] = blocks.T
        return Columns(values, 1)
    values = work(SPENT_VALUES, (QK // NP_LANES, n * NP_LANES), np.float32, xp)
    groups = np.ascontiguousarray(blocks, dtype=np.float32).view(np.complex128)
    moved = values.view(np.complex128)
    for i in range(0, n, _GROUP_TILE):  # a tile's source lines stay in cache across its 8 rows
        np.copyto(moved[:, i : i + _GROUP_TILE], groups[i : i + _GROUP_TILE].T)
    return Columns(values, NP_LANES)


def add_truncate(values: Any, addend: Any, dtype: Any, xp: ModuleType) -> Any:
    """Integer codes trunc(values + addend) of float32 ``values`` (in range for ``dtype``).

    numpy adds in binary32 and converts in one call, buffer by buffer, into a work array, so the
    sums never make a round trip through memory.
    """
    if xp is not np:
        return (values + addend).astype(dtype)
    codes = work("codes", values.shape, dtype, xp)
    return np.add(values, addend, out=codes, dtype=np.float32, casting="unsafe")


_TILE = 256  # blocks per transposed tile: 32 KiB of input, so each tile stays in L1


def transpose(blocks: Any, xp: ModuleType) -> Any:
    """(n, 32) -> contiguous (32, n); numpy goes tile by tile, 1.5x faster than one big transpose."""
    if xp is not np:
        return xp.ascontiguousarray(blocks.T)
    out = np.empty((blocks.shape[1], blocks.shape[0]), dtype=blocks.dtype)
    for i in range(0, blocks.shape[0], _TILE):
        out[:, i : i + _TILE] = blocks[i : i + _TILE].T
    return out


def _fold(values: Any, smallest: bool, lanes: int, xp: ModuleType) -> Any:
    """Per block (n,): the min (``smallest``) or max of (P, n*lanes) columns, NaN propagating.

    numpy reduces the positions in one call that streams each row past a running result; the lanes
    of that result are then reduced with one strided pass per lane (a (n, 2) slice would make numpy
    loop over pairs).
    """
    op = xp.minimum if smallest else xp.maximum
    if xp is not np:
        v = values.min(axis=0) if smallest else values.max(axis=0)
    else:
        key = FOLD_LO if smallest else FOLD_HI
        v = op.reduce(values, axis=0, out=work(key, values.shape[1:], np.float32, xp))
    if lanes == 1:
        return xp.array(v, copy=True)
    v = v.reshape(-1, lanes)
    acc = op(v[:, 0], v[:, 1])
    for e in range(2, lanes):
        op(acc, v[:, e], out=acc)
    return acc


def extremes(blocks: Any, cols: Columns, xp: ModuleType, *, signed_zero: bool = True) -> tuple[Any, Any]:
    """Per block: the minimum and the maximum; NaN propagates into both.

    With ``signed_zero`` a zero minimum carries the sign of the block's first zero, as ggml's running
    minimum (strict ``<``) does; only types that store the minimum need that.
    """
    lo = _fold(cols.values, True, cols.lanes, xp)
    hi = _fold(cols.values, False, cols.lanes, xp)
    if not signed_zero:
        return lo, hi
    zero = lo == 0  # min() may return either zero; the C scan keeps the first one it met
    if bool(zero.any()):
        sub = blocks[zero]
        lo[zero] = sub[xp.arange(sub.shape[0]), xp.argmax(sub == 0, axis=-1)]
    return lo, hi


def abs_max(cols: Columns, xp: ModuleType) -> Any:
    """Per block: max |x| (NaN if the block holds one)."""
    mag = xp.abs(cols.values, out=work(MAGNITUDES, cols.values.shape, cols.values.dtype, xp))
    return _fold(mag, False, cols.lanes, xp)


def signed_absmax(blocks: Any, lo: Any, hi: Any, xp: ModuleType) -> Any:
    """The signed value of the first strictly largest |x| (ggml's scan), from the block extremes.

    Only when both +a and -a reach the largest magnitude does the position matter; those rare blocks
    are scanned with argmax. A zero block gives +0.0 (the scan's start value); NaN gives NaN.
    """
    neg = -lo
    m = xp.where(hi >= neg, hi, lo) + F32(0.0)
    tie = hi == neg
    if bool(tie.any()):
        tie = tie & (hi > 0)  # zero blocks tie harmlessly
        if bool(tie.any()):
            sub = blocks[tie]
            m[tie] = sub[xp.arange(sub.shape[0]), xp.argmax(xp.abs(sub), axis=-1)]
    return m


def spread(v: Any, cols: Columns, xp: ModuleType, key: str) -> Any:
    """Per-block float32 values (n,) -> (n * lanes,), which broadcasts against ``cols.values`` (the work
    array ``key`` on numpy, FOLD_LO or FOLD_HI once the folds are done; written as u64 pairs of the
    value: three calls, no per-lane pass)."""
    if cols.lanes == 1:
        return v
    if xp is not np:
        return xp.repeat(v, cols.lanes)
    pairs = work(key, (v.shape[0], cols.lanes // 2), np.uint64, xp)
    first = pairs[:, 0]
    np.multiply(v.view(np.uint32), _TWICE, out=first, dtype=np.uint64)  # bits | bits << 32
    for e in range(1, cols.lanes // 2):
        pairs[:, e] = first
    return pairs.view(np.float32).reshape(-1)


def zero_blocks(codes: Columns, mask: Any | None, xp: ModuleType) -> Columns:
    """Codes with every block in ``mask`` (n,) set to 0 (``None``: no block)."""
    if mask is None or not bool(mask.any()):
        return codes
    wide = mask if codes.lanes == 1 else xp.repeat(mask, codes.lanes)
    return codes.like(xp.where(wide[None, :], xp.zeros((), dtype=codes.values.dtype), codes.values))


def clamp_top(codes: Any, bits: int, xp: ModuleType) -> Any:
    """uint8 codes in 0..2**bits -> min(code, 2**bits - 1); only the top value moves, by one.

    numpy subtracts bit ``bits`` of each byte in uint64 lanes, in place (no borrow: a byte with that bit
    set is at least 1), many times faster than a byte-wise minimum.
    """
    if xp is not np:
        return xp.minimum(codes, (1 << bits) - 1).astype(xp.uint8)
    lanes = codes.reshape(-1).view(np.uint64)
    top = np.right_shift(lanes, np.uint64(bits), out=work(SPENT_VALUES, lanes.shape, np.uint64, xp))
    top &= _BYTE_LSB
    lanes -= top
    return codes


def put_columns(out: Any, offset: int, cols: Columns, xp: ModuleType) -> None:
    """Write uint8 columns (P, n*lanes) into bytes offset..offset+P*lanes of every block, in element
    order. numpy copies one lane group (a 4-byte item) per block and position: P strided copies."""
    values, lanes = cols.values, cols.lanes
    width = values.shape[0] * lanes
    if xp is np and lanes == NP_LANES:
        dst, src = out[:, offset : offset + width].view("V4"), values.view("V4")
        for p in range(values.shape[0]):
            dst[:, p] = src[p]
        return
    put_bytes(out, offset, _element_order(values, lanes, xp).reshape(-1, width), xp)


def _element_order(values: Any, lanes: int, xp: ModuleType) -> Any:
    """(P, n*lanes) -> contiguous (n, P, lanes)."""
    n = values.shape[1] // lanes
    if lanes == 1:
        return xp.ascontiguousarray(values.T)
    return xp.ascontiguousarray(xp.transpose(values.reshape(values.shape[0], n, lanes), (1, 0, 2)))


def pack_nibbles(cols: Columns, xp: ModuleType, *, masked: bool = True) -> Columns:
    """uint8 codes in columns -> the 16 bytes of every block, in columns (``put_columns`` writes them):
    low nibble = element j, high nibble = element j+16.

    ``masked=False`` promises codes below 16, so no nibble needs clearing first.
    """
    codes = cols.values
    half = codes.shape[0] // 2
    if xp is not np:
        return cols.like((codes[:half] & 0x0F) | ((codes[half:] & 0x0F) << 4))
    lo, hi = codes[:half].reshape(-1).view(np.uint64), codes[half:].reshape(-1).view(np.uint64)
    packed = np.left_shift(hi, np.uint64(4), out=work(SPENT_VALUES, lo.shape, np.uint64, xp))
    if masked:  # high nibbles from hi << 4, low ones from lo: lo ^ ((lo ^ packed) & 0xF0..F0)
        packed ^= lo
        packed &= _HIGH_NIBBLES
    packed ^= lo
    return cols.like(packed.view(np.uint8).reshape(half, -1))


def pack_high_bits(cols: Columns, xp: ModuleType) -> Any:
    """uint8 codes in columns -> (n, 4) bytes of the little-endian u32 whose bit i is bit 4 of element i."""
    codes, lanes = cols.values, cols.lanes
    if xp is np and lanes == NP_LANES:
        # One u32 holds elements 4p..4p+3; gather their fifth bits into a nibble and OR nibble p in.
        words = codes.view(np.uint32)
        bits = np.right_shift(words, np.uint32(4), out=work(SPENT_VALUES, words.shape, np.uint32, xp))
        bits &= np.uint32(0x01010101)
        bits *= _GATHER_BYTE_BITS
        bits >>= np.uint32(24)
        bits <<= _LANE_SHIFTS
        return np.bitwise_or.reduce(bits, axis=0).view(np.uint8).reshape(-1, 4)
    if xp is np and lanes == 1:
        bits = ((codes.reshape(-1).view(np.uint64) >> np.uint64(4)) & _BYTE_LSB).view(np.uint8)
        weighted = bits.reshape(4, 8, -1) * _BIT_WEIGHTS
        return np.ascontiguousarray(np.sum(weighted, axis=1, dtype=np.uint8).T)
    bits = _element_order((codes >> 4) & 1, lanes, xp).reshape(-1, 4, 8)  # element i = 8 * byte + bit
    return xp.sum(bits * xp.asarray(_BIT_WEIGHTS[:, 0]), axis=2, dtype=xp.uint8)
