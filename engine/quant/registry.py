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
from engine.quant import cuda_kernels
from engine.quant.xp import to_host

_KERNELS: dict[GGMLType, "Kernel"] = {}

# About 256 KiB of float32 input per chunk keeps every temporary of a kernel inside L2 on a CPU.
CHUNK_VALUES = 1 << 16
# A GPU needs millions of values per launch to hide kernel-launch latency; 16M keeps temporaries < 2 GB.
GPU_CHUNK_VALUES = 1 << 24
# CuPy compiles its kernels with flush-to-zero: subnormal inputs and results become 0 there, where the
# CPU (and llama.cpp) keeps them. Quantities that small only arise in groups of 16 values whose largest
# magnitude is below 2**-14 (scales, squared weights, products of sums); such rows are quantized on the
# host instead. Bit patterns are compared as integers, which flush-to-zero does not touch.
_TINY_GROUP = 16
_TINY_BITS = 0x38800000  # the binary32 bit pattern of 2**-14
HALF_MAX_BITS = 0x477FE000  # the binary32 bit pattern of 65504, the largest finite binary16


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
        check = xp is np
        for start in range(0, n_rows, step):
            chunk = xp.asarray(rows[start : start + step], dtype=xp.float32)
            if xp is np:
                out[start : start + step] = self._quantize(chunk, xp, imatrix if self.uses_imatrix else None)
            else:
                check |= self._quantize_on_gpu(chunk, out[start : start + step], xp, imatrix)
        if check:  # on the GPU the bytes may come from a compiled kernel, which notes nothing: scan them all
            self._validate(out, xp, name) if xp is np else self.check_scales(out, name, xp=xp)
        return out

    def _quantize_on_gpu(self, chunk: Any, out: Any, xp: ModuleType, imatrix: Any | None) -> bool:
        """Fill ``out`` from ``chunk`` on the GPU; True when the output needs the overflow check.

        The compiled kernel runs where this type has a trusted one, else the array kernel (plus the host
        for rows of tiny values). No block scale can overflow binary16 when every |x| <= 65504, so only
        chunks with larger (or non-finite) values pay for ``_validate``.
        """
        # xp.bitwise_and, not &: CuPy's first operator call imports cupyx and SciPy (0.2-0.4 s).
        magnitude = xp.bitwise_and(xp.ascontiguousarray(chunk).view(xp.uint32), xp.uint32(0x7FFFFFFF))
        weights = imatrix if self.uses_imatrix else None
        fast = None
        if weights is None:
            fast = cuda_kernels.quantize(chunk, self.qtype.name, xp, self.unchecked_rows)
        if fast is not None:
            out[...] = fast
        else:
            out[...] = self._quantize(chunk, xp, weights)
            self._redo_tiny_rows_on_host(chunk, out, xp, weights, magnitude)
        return int(magnitude.max()) > HALF_MAX_BITS

    def _redo_tiny_rows_on_host(self, chunk: Any, out: Any, xp: ModuleType, imatrix: Any | None,
                                magnitude: Any) -> None:
        """Re-quantize on the CPU the rows of ``chunk`` that hold a group of tiny but nonzero values."""
        if chunk.shape[1] % _TINY_GROUP:
            return
        group_max = magnitude.reshape(chunk.shape[0], -1, _TINY_GROUP).max(axis=2)
        tiny = ((group_max > 0) & (group_max < _TINY_BITS)).any(axis=1)
        if not bool(tiny.any()):
            return
        index = xp.flatnonzero(tiny)
        host_rows = to_host(chunk[index])
        host_imatrix = None if imatrix is None else to_host(imatrix)
        out[index] = xp.asarray(self._quantize(host_rows, np, host_imatrix))

    def dequantize_rows(self, data: Any, n_per_row: int, *, xp: ModuleType = np) -> Any:
        """Unpack a 2-D uint8 array of quantized rows back to float32."""
        rb = self.row_bytes(n_per_row)
        data = data.reshape(-1, rb)
        return self._dequantize(data, xp).reshape(data.shape[0], n_per_row)

    def unchecked_rows(self, rows: np.ndarray) -> np.ndarray:
        """The numpy bytes of float32 ``rows`` without the overflow check: what a GPU kernel must match."""
        return self._quantize(rows, np, None)

    def check_scales(self, out: Any, name: str, *, xp: ModuleType = np) -> None:
        """Raise InvalidValuesError when a binary16 scale of the quantized ``out`` overflowed.

        Always the full scan: a kernel's own ``_validate`` may skip it when its numpy run saw no overflow,
        which says nothing about bytes another device wrote.
        """
        Kernel._validate(self, out, xp, name)

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
