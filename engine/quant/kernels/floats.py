"""Unquantized float types: F32 (copy), F16 (IEEE half, round to nearest even) and BF16."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.quant.registry import Kernel


class F32Kernel(Kernel, qtype=GGMLType.F32):
    """Plain float32: the bytes as they are."""

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        return xp.ascontiguousarray(rows, dtype=xp.float32).view(xp.uint8)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return xp.ascontiguousarray(data).view(xp.float32)


class F16Kernel(Kernel, qtype=GGMLType.F16):
    """IEEE binary16; ggml writes every NaN as sign | 0x7E00, so we do too."""

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _validate
            half = rows.astype(xp.float16).view(xp.uint16)
        nan = xp.isnan(rows)
        half = xp.where(nan, (half & 0x8000) | 0x7E00, half).astype(xp.uint16)
        return xp.ascontiguousarray(half).view(xp.uint8)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        return xp.ascontiguousarray(data).view(xp.float16).astype(xp.float32)

    def _validate(self, out: Any, xp: ModuleType, name: str) -> None:
        _reject_all_ones_exponent(out.view(xp.uint16), 0x7C00, xp, name, "F16")


class BF16Kernel(Kernel, qtype=GGMLType.BF16):
    """bfloat16: the top half of float32, rounded to nearest even; NaN keeps a quiet bit."""

    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        u = xp.ascontiguousarray(rows, dtype=xp.float32).view(xp.uint32)
        rounded = (u + xp.uint32(0x7FFF) + ((u >> 16) & xp.uint32(1))) >> 16
        nan = (u & xp.uint32(0x7FFFFFFF)) > xp.uint32(0x7F800000)
        bf = xp.where(nan, (u >> 16) | xp.uint32(0x0040), rounded).astype(xp.uint16)
        return bf.view(xp.uint8)

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        bf = xp.ascontiguousarray(data).view(xp.uint16).astype(xp.uint32) << 16
        return bf.view(xp.float32)

    def _validate(self, out: Any, xp: ModuleType, name: str) -> None:
        _reject_all_ones_exponent(out.view(xp.uint16), 0x7F80, xp, name, "BF16")


def _reject_all_ones_exponent(bits: Any, mask: int, xp: ModuleType, name: str, type_name: str) -> None:
    from engine.errors import InvalidValuesError

    if bool(xp.any((bits & mask) == mask)):
        raise InvalidValuesError(f"Tensor {name} contains NaN, infinite or too large values for {type_name}.")
