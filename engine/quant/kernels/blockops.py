"""Block-level building blocks shared by the 32-value kernels (legacy types and IQ4).

Everything works on arrays of blocks, (n_blocks, 32) or position-major (32, n_blocks), with the array
module ``xp`` passed in, and keeps binary32 with the same rounding as ggml's C loops.
"""

from __future__ import annotations

import math
import mmap
import os
import threading
from types import ModuleType
from typing import Any

import numpy as np

from engine.quant.registry import Kernel

F32 = np.float32
_U32 = np.uint32
_HALF_OVERFLOW = 65520.0  # the smallest magnitude that rounds to an infinite binary16
# |x| bits whose binary16 is a normal number: from 2**-14 up to (excluding) 65520, which rounds to inf.
HALF_NORMAL_LO, HALF_NORMAL_END = 0x38800000, 0x477FF000
# Rebias the exponent (127 -> 15) and add the round-to-nearest-even bias below bit 13 in one constant.
_HALF_REBIAS = (0xFFF - (112 << 23)) % (1 << 32)


class _Arena:
    """One set of work buffers (a few MiB), used by one thread at a time and reused from chunk to chunk.

    A chunk's temporaries are hundreds of KiB each; freshly allocated, glibc maps them afresh or trims
    them off the heap when they are freed, so every chunk faults its pages in again, which costs more
    than the arithmetic. Reusing one buffer per purpose keeps them warm in cache as well. Buffers are
    private anonymous maps.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}
        self.views: dict[str, np.ndarray] = {}  # the last view handed out per key: chunks repeat shapes

    def get(self, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        view = self.views.get(key)
        if view is not None and view.shape == shape and view.dtype == dtype:
            return view
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        buf = self.buffers.get(key)
        if buf is None or buf.size < nbytes:
            buf = self.buffers[key] = np.frombuffer(mmap.mmap(-1, max(nbytes, 64)), dtype=np.uint8)
        view = self.views[key] = buf[:nbytes].view(dtype).reshape(shape)
        return view


class _Lease:
    """A thread's hold on an arena; when the thread ends its slot is cleared and the arena goes back to
    the pool, already faulted in, for the next thread (thread pools are often made per call)."""

    __slots__ = ("arena",)

    def __init__(self, arena: _Arena) -> None:
        self.arena: _Arena | None = arena

    def __del__(self) -> None:
        try:
            if self.arena is not None and len(_POOL) < _POOL_MAX:
                with _POOL_LOCK:
                    _POOL.append(self.arena)
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown: nothing left to keep
            pass


class _Slot(threading.local):
    lease: _Lease | None = None


_SLOT = _Slot()
_POOL: list[_Arena] = []
_POOL_LOCK = threading.Lock()
_POOL_MAX = os.cpu_count() or 1


def _arena() -> _Arena:
    lease = _SLOT.lease
    if lease is None or lease.arena is None:
        with _POOL_LOCK:
            arena = _POOL.pop() if _POOL else _Arena()
        lease = _SLOT.lease = _Lease(arena)
    return lease.arena  # type: ignore[return-value]


def _forget_after_fork() -> None:
    """In a forked child: start without the parent's arenas, whose pages would each be copied on the
    first write (about twice the cost of a fresh page) in every worker of every call."""
    global _POOL_LOCK  # noqa: PLW0603 - the parent's lock may have been held by a thread that is gone
    _POOL_LOCK = threading.Lock()
    _POOL.clear()
    if _SLOT.lease is not None:
        _SLOT.lease.arena = None  # dropped, not handed back


if hasattr(os, "register_at_fork"):  # POSIX; a child runs on the thread that forked
    os.register_at_fork(after_in_child=_forget_after_fork)


class _Seen(threading.local):
    """Whether a chunk quantized on this thread since the last validation wrote an inf/NaN field."""

    nonfinite = False


_SEEN = _Seen()


def note_nonfinite() -> None:
    """Record that this thread just wrote an all-ones exponent (inf/NaN) somewhere."""
    _SEEN.nonfinite = True


def take_nonfinite() -> bool:
    """Whether anything was recorded since the last call on this thread (and forget it).

    Kernels note while each chunk is still in cache, so the final validation only reads the whole
    output again when something was seen. A note left behind by an interrupted run costs one such
    reread, never a wrong verdict.
    """
    seen, _SEEN.nonfinite = _SEEN.nonfinite, False
    return seen


def work(key: str, shape: tuple[int, ...], dtype: Any, xp: ModuleType) -> Any:
    """An uninitialised array to compute into: this thread's reused buffer ``key`` on numpy, a new
    array elsewhere. Its contents last only until the same thread asks for ``key`` again, so a kernel
    must copy out whatever it returns."""
    if xp is np:
        return _arena().get(key, shape, dtype)
    return xp.empty(shape, dtype=dtype)


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
    """Per block (last axis): ggml's running minimum with strict ``<``, including the sign of a zero."""
    return _first_zero_sign(x, xp.min(x, axis=-1), xp)


def _first_zero_sign(x: Any, mn: Any, xp: ModuleType) -> Any:
    """A running minimum keeps the first of equal values, which matters only for +/-0.0 (it ends up in
    a stored half); ``min`` may return either zero, so those rare blocks take their first zero."""
    zero = mn == 0
    if bool(zero.any()):
        sub = x[zero]
        first = xp.argmax(sub == 0, axis=-1)
        mn[zero] = xp.take_along_axis(sub, xp.expand_dims(first, -1), axis=-1)[..., 0]
    return mn


def safe_recip(d: Any, xp: ModuleType) -> Any:
    """``d ? 1/d : 0`` in binary32, without dividing by zero."""
    nz = d != 0
    return xp.where(nz, F32(1.0) / xp.where(nz, d, F32(1.0)), F32(0.0)).astype(xp.float32)


def finite_recip(d: Any, xp: ModuleType) -> tuple[Any, Any | None]:
    """``d ? 1/d : 0`` plus a mask of blocks where 1/d overflowed to infinity (a subnormal ``d``),
    or None when no block's did.

    There ggml's C code converts +/-inf or NaN to an integer code; x86 yields 0x80000000, whose low
    byte 0 becomes the code. Callers zero those blocks' codes and use 0 as the reciprocal so that no
    undefined float-to-integer conversion ever happens here. Call under ``np.errstate(all="ignore")``.
    """
    inv = F32(1.0) / d
    inf = xp.isinf(inv)  # d == 0 (wanted: 0) or 1/d overflowed
    if not bool(inf.any()):
        return inv, None
    return xp.where(inf, F32(0.0), inv), inf & (d != 0)


def seq_sum_rows(a: Any, xp: ModuleType) -> Any:
    """Sum over axis 0 strictly in order (a C loop over the leading index), binary32.

    C starts its accumulator at +0.0, so ``0 + a[0]`` comes first: it turns a leading -0.0 into +0.0.
    """
    acc = a[0] + F32(0.0)
    for i in range(1, a.shape[0]):
        xp.add(acc, a[i], out=acc)
    return acc


def seq_sum_last(a: Any, xp: ModuleType) -> Any:
    """Sum over the last axis strictly left to right in binary32.

    numpy's ``add.accumulate`` is sequential but pays a C call per row, so short rows are summed
    position-major instead: one contiguous vector add per position.
    """
    if xp is np and a.shape[-1] > 64:
        return np.add.accumulate(a, axis=-1, dtype=np.float32)[..., -1]
    lead = a.shape[:-1]
    cols = xp.ascontiguousarray(a.reshape(-1, a.shape[-1]).T)
    return seq_sum_rows(cols, xp).reshape(lead)


def half_bytes(v: Any, xp: ModuleType) -> Any:
    """binary32 (n,) -> little-endian binary16 bytes (n, 2), rounded to nearest even like ggml.

    NaN payloads may differ from ggml's ``sign | 0x7E00``; that never reaches a file, because a
    NaN or infinite scale fails the kernel's validation.
    """
    return xp.ascontiguousarray(v, dtype=xp.float32).astype(xp.float16).view(xp.uint8).reshape(-1, 2)


def read_half(blocks: Any, offset: int, xp: ModuleType) -> Any:
    """The binary16 field at byte ``offset`` of every block, as binary32 (n,)."""
    bits = blocks[:, offset].astype(xp.uint16) | (blocks[:, offset + 1].astype(xp.uint16) << 8)
    return bits.view(xp.float16).astype(xp.float32)


def pack_nibbles(codes: Any, xp: ModuleType) -> Any:
    """(n, 32) codes 0..15 -> (n, 16) bytes: element j in the low nibble, element j+16 in the high one.

    numpy works on the codes as four uint64 lanes per block (8 codes each), which is many times faster
    than byte-wise slices; the high lanes shifted by 4 cannot carry across bytes because codes < 16.
    """
    codes = xp.ascontiguousarray(codes, dtype=xp.uint8)
    if xp is not np:
        return (codes[:, :16] & 0x0F) | (codes[:, 16:] << 4)
    lanes = codes.view(np.uint64).reshape(-1) & np.uint64(0x0F0F0F0F0F0F0F0F)
    out = np.empty((codes.shape[0], 2), dtype=np.uint64)
    out[:, 0] = lanes[0::4] | (lanes[2::4] << np.uint64(4))
    out[:, 1] = lanes[1::4] | (lanes[3::4] << np.uint64(4))
    return out.view(np.uint8)


def put_bytes(out: Any, offset: int, field: Any, xp: ModuleType) -> None:
    """Write (n, k) bytes into bytes offset..offset+k of every block of ``out`` (n, type_size).

    numpy copies each block's field as one k-byte item (a void view), avoiding a slow row-wise copy.
    """
    k = field.shape[1]
    if xp is not np:
        out[:, offset : offset + k] = field
        return
    item = np.dtype(f"V{k}")
    out[:, offset : offset + k].view(item)[:, 0] = np.ascontiguousarray(field, dtype=np.uint8).view(item)[:, 0]


def put_half(out: Any, offset: int, v: Any, xp: ModuleType) -> None:
    """Write binary32 values (n,) as binary16 (rounded to nearest even) at byte ``offset`` of every block,
    noting (``note_nonfinite``) when one becomes inf/NaN: NaN, or a magnitude from 65520 on.

    numpy rounds with integer operations straight into the blocks (its own conversion takes 1.5 ns a
    value) and converts the usual way only when some value is outside the normal binary16 range. As
    with ``half_bytes``, a NaN's payload may differ from ggml's; validation refuses NaN anyway.
    """
    if xp is not np:
        if v.size and not (float(v.max()) < _HALF_OVERFLOW and float(v.min()) > -_HALF_OVERFLOW):
            note_nonfinite()  # a NaN fails both comparisons
        out[:, offset : offset + 2] = half_bytes(v, xp)
        return
    if not v.size:
        return
    v = np.ascontiguousarray(v, dtype=np.float32)
    dst = out[:, offset : offset + 2].view(np.uint16)[:, 0]
    mag = half_normal_bits(v.view(np.uint32), dst, "scale")
    if int(mag.max()) >= HALF_NORMAL_END:
        note_nonfinite()
    elif int(mag.min()) >= HALF_NORMAL_LO:
        return
    idx = half_outside(mag, "scale")
    dst[idx] = v[idx].astype(np.float16).view(np.uint16)


def half_outside(mag: np.ndarray, key: str) -> np.ndarray:
    """Flat indices of the |x| bits ``mag`` outside [HALF_NORMAL_LO, HALF_NORMAL_END)."""
    below = np.subtract(mag, _U32(HALF_NORMAL_LO), out=work(key + "_sign", mag.shape, np.uint32, np))
    outside = work(key + "_outside", mag.shape, bool, np)  # below the range wraps round to a huge value
    return np.flatnonzero(np.greater_equal(below, _U32(HALF_NORMAL_END - HALF_NORMAL_LO), out=outside))


def half_normal_bits(u: np.ndarray, out: np.ndarray, key: str) -> np.ndarray:
    """numpy: binary16 bits of float32 bits ``u`` into uint16 ``out`` (any strides), right for every
    value whose |x| bits lie in [HALF_NORMAL_LO, HALF_NORMAL_END); returns those |x| bits (a work array).

    The rounded half is ((a + odd + rebias) >> 13) with a = |x|'s bits and odd = bit 13 of a (round to
    nearest even, as ggml and numpy do); the sign goes in at bit 28 first, which the shift moves to 15.
    """
    mag = np.bitwise_and(u, _U32(0x7FFFFFFF), out=work(key + "_magnitude", u.shape, np.uint32, np))
    t = np.right_shift(mag, _U32(13), out=work(key + "_rounding", u.shape, np.uint32, np))
    t &= _U32(1)
    t += mag
    t += _U32(_HALF_REBIAS)  # below 2**28 for every value in range
    sign = np.right_shift(u, _U32(3), out=work(key + "_sign", u.shape, np.uint32, np))
    sign &= _U32(1 << 28)
    t |= sign
    np.right_shift(t, _U32(13), out=out, casting="unsafe")
    return mag


def unpack_nibbles(qs: Any, xp: ModuleType) -> Any:
    """(n, 16) bytes -> (n, 32) codes, the inverse of ``pack_nibbles``."""
    return xp.concatenate([qs & 0x0F, qs >> 4], axis=1)


def unpack_high_bits(qh: Any, xp: ModuleType) -> Any:
    """(n, 4) bytes of ``qh`` -> (n, 32) values 0 or 16 to add to the low nibbles."""
    bits = xp.unpackbits(xp.ascontiguousarray(qh).reshape(-1), bitorder="little")
    return (bits.reshape(qh.shape[0], 32) << 4).astype(xp.uint8)


class BlockKernel(Kernel):
    """Shared shape handling: subclasses fill (n_blocks, type_size) byte blocks and decode them."""

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        out = xp.empty((rows.size // self.block_size, self.type_size), dtype=xp.uint8)
        with np.errstate(all="ignore"):  # inf/NaN inputs are silent in C too; validation rejects NaN scales
            self._write(out, rows, xp, imatrix)
        return out.reshape(rows.shape[0], -1)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return self._decode(data.reshape(-1, self.type_size), xp).reshape(data.shape[0], -1)

    def _write(self, out: Any, rows: Any, xp: ModuleType, imatrix: Any | None) -> None:
        """Fill every block of ``out``; by default from the byte fields ``_encode`` returns."""
        at = 0
        for field in self._encode(rows, xp, imatrix):
            put_bytes(out, at, field, xp)
            at += field.shape[1]

    def _encode(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> list[Any]:
        raise NotImplementedError

    def _decode(self, blocks: Any, xp: ModuleType) -> Any:
        raise NotImplementedError
