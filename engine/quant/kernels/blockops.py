"""Block-level building blocks shared by the 32-value kernels (legacy types and IQ4).

Everything works on arrays of blocks, (n_blocks, 32) or position-major (32, n_blocks), with the array
module ``xp`` passed in, and keeps binary32 with the same rounding as ggml's C loops.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.kernels.numeric import u16_le_bytes
from engine.quant.registry import Kernel

F32 = np.float32


def signed_absmax(x: Any, xp: ModuleType) -> Any:
    """Per block (last axis): the signed value of the first strictly largest |x|, +0.0 for a zero block.

    This is ggml's ``if (amax < fabsf(v)) { amax = fabsf(v); max = v; }`` scan. argmax returns the first
    occurrence on ties, and a NaN anywhere wins, so a NaN block gets a NaN scale that validation rejects.
    Adding +0.0 turns a ``-0.0`` of an all-zero block into the ``+0.0`` the C scan starts from.
    """
    idx = xp.argmax(xp.abs(x), axis=-1)
    picked = xp.take_along_axis(x, xp.expand_dims(idx, -1), axis=-1)[..., 0]
    return picked + F32(0.0)


def first_min(x: Any, xp: ModuleType) -> Any:
    """Per block (last axis): ggml's running minimum with strict ``<``, including the sign of a zero.

    A running minimum keeps the first of several equal values, which matters only for a minimum of
    +/-0.0 (it ends up in a stored half). ``min`` may return either zero, so those rare blocks take the
    sign of their first zero element.
    """
    mn = xp.min(x, axis=-1)
    zero = mn == 0
    if bool(xp.any(zero)):
        sub = x[zero]
        first = xp.argmax(sub == 0, axis=-1)
        mn[zero] = xp.take_along_axis(sub, xp.expand_dims(first, -1), axis=-1)[..., 0]
    return mn


def safe_recip(d: Any, xp: ModuleType) -> Any:
    """``d ? 1/d : 0`` in binary32, without dividing by zero."""
    nz = d != 0
    return xp.where(nz, F32(1.0) / xp.where(nz, d, F32(1.0)), F32(0.0)).astype(xp.float32)


def finite_recip(d: Any, xp: ModuleType) -> tuple[Any, Any]:
    """``d ? 1/d : 0`` plus a mask of blocks where 1/d overflowed to infinity (a subnormal ``d``).

    There ggml's C code converts +/-inf or NaN to an integer code; x86 yields 0x80000000, whose low
    byte 0 becomes the code. Callers zero those blocks' codes and use 0 as the reciprocal so that no
    undefined float-to-integer conversion ever happens here.
    """
    inv = safe_recip(d, xp)
    overflow = xp.isinf(inv)
    return xp.where(overflow, F32(0.0), inv), overflow


def seq_sum_rows(a: Any, xp: ModuleType) -> Any:
    """Sum over axis 0 strictly in order (a C loop over the leading index), binary32."""
    acc = a[0]
    for i in range(1, a.shape[0]):
        acc = acc + a[i]
    return acc


def seq_sum_last(a: Any, xp: ModuleType) -> Any:
    """Sum over the last axis strictly left to right in binary32 (``np.add.accumulate`` is sequential)."""
    if xp is np:
        return np.add.accumulate(a, axis=-1, dtype=np.float32)[..., -1]
    acc = a[..., 0]
    for i in range(1, a.shape[-1]):
        acc = acc + a[..., i]
    return acc


def half_bytes(v: Any, xp: ModuleType) -> Any:
    """binary32 (n,) -> the little-endian bytes (n, 2) of ggml's binary16 (NaN as sign | 0x7E00)."""
    v = v.astype(xp.float32)
    h = v.astype(xp.float16).view(xp.uint16)
    h = xp.where(v != v, (h & 0x8000) | 0x7E00, h).astype(xp.uint16)
    return u16_le_bytes(h[:, None], xp)


def read_half(blocks: Any, offset: int, xp: ModuleType) -> Any:
    """The binary16 field at byte ``offset`` of every block, as binary32 (n,)."""
    bits = blocks[:, offset].astype(xp.uint16) | (blocks[:, offset + 1].astype(xp.uint16) << 8)
    return bits.view(xp.float16).astype(xp.float32)


def pack_nibbles(codes: Any, xp: ModuleType) -> Any:
    """(n, 32) codes 0..15 -> (n, 16) bytes: element j in the low nibble, element j+16 in the high one."""
    codes = codes.astype(xp.uint8)
    return (codes[:, :16] & 0x0F) | (codes[:, 16:] << 4)


def unpack_nibbles(qs: Any, xp: ModuleType) -> Any:
    """(n, 16) bytes -> (n, 32) codes, the inverse of ``pack_nibbles``."""
    return xp.concatenate([qs & 0x0F, qs >> 4], axis=1)


def pack_high_bits(codes: Any, xp: ModuleType) -> Any:
    """(n, 32) 5-bit codes -> (n, 4) bytes of the u32 ``qh`` whose bit i is bit 4 of element i."""
    bits = ((codes.astype(xp.uint8) >> 4) & 1).reshape(-1)
    return xp.packbits(bits, bitorder="little").reshape(codes.shape[0], 4)


def unpack_high_bits(qh: Any, xp: ModuleType) -> Any:
    """(n, 4) bytes of ``qh`` -> (n, 32) values 0 or 16 to add to the low nibbles."""
    bits = xp.unpackbits(xp.ascontiguousarray(qh).reshape(-1), bitorder="little")
    return (bits.reshape(qh.shape[0], 32) << 4).astype(xp.uint8)


class BlockKernel(Kernel):
    """Shared shape handling: subclasses return the byte fields of (n_blocks, ...) and decode blocks."""

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        with np.errstate(all="ignore"):  # inf/NaN inputs are silent in C too; validation rejects NaN scales
            fields = self._encode(rows, xp, imatrix)
        return xp.concatenate(fields, axis=1).reshape(rows.shape[0], -1)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return self._decode(data.reshape(-1, self.type_size), xp).reshape(data.shape[0], -1)

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        raise NotImplementedError

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        raise NotImplementedError
