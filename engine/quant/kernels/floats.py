"""Unquantized float types: F32 (copy), F16 (IEEE half, round to nearest even) and BF16.

numpy converts float32 to float16 one value at a time (about 1.5 ns each), so on numpy F16 rounds with
integer operations on the bits of every value in range and leaves only the rest (subnormal results,
overflow, inf, NaN) to numpy's conversion. Both types check their output for all-ones exponents chunk
by chunk while it is in cache, and the final validation only looks again when a chunk found one.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.errors import InvalidValuesError
from engine.formats.ggml_types import GGMLType
from engine.quant.kernels.blockops import (
    half_normal_bits,
    half_outside,
    note_nonfinite,
    take_nonfinite,
    work,
)
from engine.quant.kernels.numeric import half_bits
from engine.quant.registry import Kernel

_U32 = np.uint32
# Largest |x| bits that do not round to an all-ones bfloat16 exponent.
_BF16_FINITE_MAX = 0x7F7F7FFF


class F32Kernel(Kernel, qtype=GGMLType.F32):
    """Plain float32: the bytes as they are."""

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        return xp.ascontiguousarray(rows, dtype=xp.float32).view(xp.uint8)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return xp.ascontiguousarray(data).view(xp.float32)


class F16Kernel(Kernel, qtype=GGMLType.F16):
    """IEEE binary16; ggml writes every NaN as sign | 0x7E00, so we do too."""

    chunk_values = 1 << 18

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        rows = xp.ascontiguousarray(rows, dtype=xp.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _validate
            if xp is np:
                return _half_numpy(rows).view(np.uint8)
            half = half_bits(rows, xp)
        _note_nonfinite(half, 0x7C00, xp)
        return half.view(xp.uint8)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return xp.ascontiguousarray(data).view(xp.float16).astype(xp.float32)

    def _validate(self, out: Any, xp: ModuleType, name: str) -> None:
        _validate_exponents(out, 0x7C00, xp, name, "F16")


class BF16Kernel(Kernel, qtype=GGMLType.BF16):
    """bfloat16: the top half of float32, rounded to nearest even; NaN keeps a quiet bit."""

    chunk_values = 1 << 18

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        u = xp.ascontiguousarray(rows, dtype=xp.float32).view(xp.uint32)
        if xp is np:
            bf = _bf16_numpy(u)
        else:
            rounded = (u + xp.uint32(0x7FFF) + ((u >> 16) & xp.uint32(1))) >> 16
            nan = (u & xp.uint32(0x7FFFFFFF)) > xp.uint32(0x7F800000)
            bf = xp.where(nan, (u >> 16) | xp.uint32(0x0040), rounded).astype(xp.uint16)
            _note_nonfinite(bf, 0x7F80, xp)
        return bf.view(xp.uint8)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        bf = xp.ascontiguousarray(data).view(xp.uint16).astype(xp.uint32) << 16
        return bf.view(xp.float32)

    def _validate(self, out: Any, xp: ModuleType, name: str) -> None:
        _validate_exponents(out, 0x7F80, xp, name, "BF16")


def _half_numpy(rows: np.ndarray) -> np.ndarray:
    """binary16 bits of contiguous float32 rows, as ``half_bits`` gives them, in fewer passes: integer
    rounding (``half_normal_bits``) for the values in the normal binary16 range; the few others (zeros,
    tiny or huge values, inf, NaN) go through ``half_bits``."""
    u = rows.view(np.uint32)
    half = np.empty(u.shape, dtype=np.uint16)
    mag = half_normal_bits(u, half, "f16")
    idx = half_outside(mag, "f16")
    if idx.size:
        fixed = half_bits(rows.reshape(-1)[idx], np)
        half.reshape(-1)[idx] = fixed
        _note_nonfinite(fixed, 0x7C00, np)
    return half


def _bf16_numpy(u: np.ndarray) -> np.ndarray:
    """bfloat16 bits of float32 bits ``u``: (u + 0x7FFF + odd) >> 16; NaN (rare, found by a max
    reduction of the values) keeps its top half with the quiet bit set."""
    t = np.right_shift(u, _U32(16), out=work("bf16_rounding", u.shape, np.uint32, np))
    t &= _U32(1)
    t += u
    t += _U32(0x7FFF)
    bf = np.empty(u.shape, dtype=np.uint16)
    np.right_shift(t, _U32(16), out=bf, casting="unsafe")
    values = u.view(np.float32)
    top, bottom = float(np.max(values)), float(np.min(values))  # NaN spreads into both
    limit = float(np.uint32(_BF16_FINITE_MAX).view(np.float32))
    if not (-limit <= bottom and top <= limit):
        nan = (u & _U32(0x7FFFFFFF)) > _U32(0x7F800000)
        bf = np.where(nan, (u >> 16) | _U32(0x0040), bf).astype(np.uint16)
        _note_nonfinite(bf, 0x7F80, np)
    return bf


def _note_nonfinite(bits: Any, mask: int, xp: ModuleType) -> None:
    """Remember for ``_validate_exponents`` that some value in ``bits`` has an all-ones exponent."""
    if bool(xp.any((bits & mask) == mask)):
        note_nonfinite()


def _validate_exponents(out: Any, mask: int, xp: ModuleType, name: str, type_name: str) -> None:
    """Refuse an output with an all-ones exponent (inf/NaN); only re-read it when a chunk saw one."""
    if not take_nonfinite():
        return
    if bool(xp.any((out.view(xp.uint16) & mask) == mask)):
        raise InvalidValuesError(f"Tensor {name} contains NaN, infinite or too large values for {type_name}.")
