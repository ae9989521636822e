"""Kernel contract and self-registration.

A kernel turns float32 rows into the packed bytes of one ggml type and back. Subclasses pass
``qtype=`` in the class statement and implement ``_quantize`` and ``_dequantize``; the base class
validates shapes, walks the rows in cache-sized chunks and checks the result for inf/NaN scales the way
llama.cpp validates rows before it writes them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from engine.errors import InvalidValuesError, UsageError
from engine.formats.ggml_types import GGMLType, layout_of

_KERNELS: dict[GGMLType, "Kernel"] = {}

# About 256 KiB of float32 input per chunk keeps every temporary of a kernel inside L2 on a CPU.
CHUNK_VALUES = 1 << 16
# A GPU needs millions of values per launch to hide kernel-launch latency; 16M keeps temporaries < 2 GB.
GPU_CHUNK_VALUES = 1 << 24


class Kernel:
    """Base of every per-type kernel; instances are stateless singletons found via ``kernel_for``."""

    qtype: ClassVar[GGMLType]
    block_size: ClassVar[int]
    type_size: ClassVar[int]
    uses_imatrix: ClassVar[bool] = False
    # Byte offsets of binary16 fields inside one block; an all-ones exponent there means inf/NaN.
    half_fields: ClassVar[tuple[int, ...]] = ()
    # Compute-bound kernels (many numpy calls per chunk hold the GIL often) scale only across processes;
    # memory-bound ones (few large calls) scale across threads and lose to the cost of forking.
    parallel_by_processes: ClassVar[bool] = False
    # Values per ``_quantize`` call on the CPU; kernels whose cost is mostly per call may ask for more.
    chunk_values: ClassVar[int] = CHUNK_VALUES

    def __init_subclass__(cls, *, qtype: GGMLType | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if qtype is None:
            return
        lay = layout_of(qtype)
        cls.qtype, cls.block_size, cls.type_size = GGMLType(qtype), lay.block_size, lay.type_size
        _KERNELS[cls.qtype] = cls()

    # -- what a subclass writes ------------------------------------------------------------------
    def _quantize(self, rows: Any, xp: ModuleType, imatrix: Any | None) -> Any:
        """float32 (n_rows, n_per_row) -> uint8 (n_rows, n_per_row // block_size * type_size)."""
        raise NotImplementedError

    def _dequantize(self, data: Any, xp: ModuleType) -> Any:
        """uint8 (n_rows, row_bytes) -> float32 (n_rows, n_per_row)."""
        raise NotImplementedError

    # -- what callers use ------------------------------------------------------------------------
    def row_bytes(self, n_per_row: int) -> int:
        """Bytes of one quantized row of ``n_per_row`` values."""
        self.check_row_length(n_per_row)
        return n_per_row // self.block_size * self.type_size

    def check_row_length(self, n_per_row: int) -> None:
        """Raise UsageError when a row is not a whole number of blocks."""
        if n_per_row <= 0 or n_per_row % self.block_size:
            raise UsageError(
                f"Rows of {n_per_row} values cannot be quantized to {self.qtype.name}: "
                f"it needs a multiple of {self.block_size} values per row.",
                "Pick a type with a smaller block size for this tensor (for example Q8_0 or F16).",
            )

    def quantize_rows(
        self, rows: Any, *, xp: ModuleType = np, imatrix: Any | None = None, name: str = "tensor"
    ) -> Any:
        """Quantize a 2-D float32 array of rows; ``imatrix`` holds one weight per column."""
        if rows.ndim != 2:
            raise UsageError(f"Expected a 2-D array of rows, got {rows.ndim} dimensions.")
        n_rows, n_per_row = rows.shape
        self.check_row_length(n_per_row)
        if imatrix is not None:
            if imatrix.shape != (n_per_row,):
                raise UsageError(
                    f"The importance matrix for {name} has {imatrix.shape[0]} entries, "
                    f"but its rows have {n_per_row} values.",
                    "Use the importance matrix that was computed for this model.",
                )
            imatrix = xp.asarray(imatrix, dtype=xp.float32)
        out = xp.empty((n_rows, self.row_bytes(n_per_row)), dtype=xp.uint8)
        step = max(1, (self.chunk_values if xp is np else GPU_CHUNK_VALUES) // n_per_row)
        for start in range(0, n_rows, step):
            chunk = xp.asarray(rows[start : start + step], dtype=xp.float32)
            out[start : start + step] = self._quantize(chunk, xp, imatrix if self.uses_imatrix else None)
        self._validate(out, xp, name)
        return out

    def dequantize_rows(self, data: Any, n_per_row: int, *, xp: ModuleType = np) -> Any:
        """Unpack a 2-D uint8 array of quantized rows back to float32."""
        rb = self.row_bytes(n_per_row)
        data = data.reshape(-1, rb)
        return self._dequantize(data, xp).reshape(data.shape[0], n_per_row)

    def _validate(self, out: Any, xp: ModuleType, name: str) -> None:
        if not self.half_fields:
            return
        blocks = out.reshape(-1, self.type_size)
        for offset in self.half_fields:
            bits = blocks[:, offset].astype(xp.uint16) | (blocks[:, offset + 1].astype(xp.uint16) << 8)
            if bool(xp.any((bits & 0x7C00) == 0x7C00)):
                raise InvalidValuesError(
                    f"Tensor {name} contains values that are NaN, infinite or too large "
                    f"for {self.qtype.name} (a block scale overflowed).",
                )


def kernel_for(qtype: GGMLType | str) -> Kernel:
    """The kernel for a type given as GGMLType or name ("Q4_K"); UsageError if there is none."""
    try:
        key = GGMLType[qtype.upper()] if isinstance(qtype, str) else GGMLType(qtype)
        return _KERNELS[key]
    except (KeyError, ValueError) as e:
        names = ", ".join(sorted(t.name for t in _KERNELS))
        raise UsageError(f"Quantpick cannot write tensors of type {qtype}.", f"Supported types: {names}.") from e


def registered_types() -> tuple[GGMLType, ...]:
    """Every type that has a kernel, in ggml's numbering order."""
    return tuple(sorted(_KERNELS))
