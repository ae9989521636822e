"""NaN, infinity and values a type cannot hold: stop with the tensor named, or clamp when the user asks.

llama.cpp refuses to write such weights (it checks every quantized row for inf/NaN), and a damaged
checkpoint should not turn silently into a GGUF that produces garbage. Clamping is an explicit choice:
NaN becomes 0, infinities and overflowing values become the largest value the target type holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import InvalidValuesError
from engine.formats.ggml_types import GGMLType
from engine.quant.parallel import quantize_parallel

F16_MAX = 65504.0
# Largest finite value per type; every other type stores F16 (block scales), so F16's bound is safe.
CLAMP_LIMITS: dict[GGMLType, float] = {
    GGMLType.F32: float(np.finfo(np.float32).max),
    GGMLType.BF16: 3.3895313892515355e38,  # 0x7F7F; float32's maximum would round up to inf
}
# All-ones exponent (inf or NaN) per float type, for checking bytes copied unchanged.
_SPECIAL_BITS: dict[GGMLType, tuple[Any, int]] = {
    GGMLType.F32: (np.uint32, 0x7F800000),
    GGMLType.F16: (np.uint16, 0x7C00),
    GGMLType.BF16: (np.uint16, 0x7F80),
}


def clamp_limit(qtype: GGMLType) -> float:
    return CLAMP_LIMITS.get(qtype, F16_MAX)


def _hint(qtype: GGMLType) -> str:
    return (
        "llama.cpp refuses such weights too. The source is damaged or holds values out of range; download it "
        f"again, or convert with clamping (--clamp) to store NaN as 0 and clamp the rest to what {qtype.name} holds."
    )


def checked_rows(rows: np.ndarray, *, name: str, first_row: int, target: GGMLType, clamp: bool) -> np.ndarray:
    """``rows`` when every value is finite; else an InvalidValuesError naming the tensor, or a clamped copy.

    Raises:
        InvalidValuesError: a NaN or infinity, and ``clamp`` is off.
    """
    finite = np.isfinite(rows)
    if finite.all():
        return rows
    if clamp:
        limit = clamp_limit(target)
        return np.nan_to_num(rows, nan=0.0, posinf=limit, neginf=-limit)
    flat = int(np.argmin(finite.reshape(-1)))  # the first False
    row, col = divmod(flat, rows.shape[-1])
    value = float(rows.reshape(-1)[flat])
    what = "NaN" if value != value else "+infinity" if value > 0 else "-infinity"
    raise InvalidValuesError(
        f"Tensor {name} contains {what} (first at row {first_row + row}, column {col}), "
        "so the conversion stopped.",
        _hint(target),
    )


def raw_is_finite(data: np.ndarray, dtype: GGMLType) -> bool:
    """Whether F32/F16/BF16 bytes hold no inf or NaN; other types are not checked (True)."""
    special = _SPECIAL_BITS.get(dtype)
    if special is None:
        return True
    uint, mask = special
    bits = np.ascontiguousarray(data).view(uint)
    return not bool(np.any((bits & uint(mask)) == uint(mask)))


def quantize_checked(
    rows: np.ndarray,
    target: GGMLType,
    *,
    name: str,
    first_row: int,
    clamp: bool,
    threads: int | None,
    imatrix: np.ndarray | None,
    cancel: Callable[[], object],
) -> np.ndarray:
    """Quantize rows after the NaN/inf check; with ``clamp``, a type overflow is clamped and retried.

    Raises:
        InvalidValuesError: non-finite input or an overflow of the target type, and ``clamp`` is off.
    """
    rows = checked_rows(rows, name=name, first_row=first_row, target=target, clamp=clamp)
    try:
        return quantize_parallel(rows, target, threads=threads, imatrix=imatrix, name=name, cancel=cancel)
    except InvalidValuesError as e:
        if not clamp:
            raise InvalidValuesError(e.message, _hint(target)) from e
    limit = clamp_limit(target)
    return quantize_parallel(np.clip(rows, -limit, limit), target, threads=threads, imatrix=imatrix,
                             name=name, cancel=cancel)
