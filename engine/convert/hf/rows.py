"""Read a checkpoint tensor's rows with the converter's edits applied, in bounded memory.

Rows are read with ``os.pread`` into small buffers rather than through a memory map, so resident memory
stays flat however large the model is. The q/k rotary permutation only moves rows within one head, so the
rows a chunk needs lie in a window at most one head larger than the chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from engine.errors import CorruptInputError, UnsupportedInputError
from engine.formats.ggml_types import GGMLType
from engine.formats.safetensors import widen_bf16

# Checkpoint dtypes the converter reads as floats: bytes per element and how to view the raw bytes.
_FLOAT_DTYPES = {"F32": (4, "<f4"), "F16": (2, "<f2"), "BF16": (2, "<u2")}
_STORED_TYPES = {"F32": GGMLType.F32, "F16": GGMLType.F16, "BF16": GGMLType.BF16}


@dataclass(frozen=True, slots=True)
class RowSource:
    """Where a tensor's rows live and which edits apply to them.

    Attributes:
        fd: Open file descriptor of the safetensors file.
        offset: File offset of the tensor's first byte.
        dtype: Safetensors dtype (F32, F16 or BF16).
        row_len: Elements per row (the last dimension; a 1-D tensor is one row).
        n_rows: Rows in the source tensor.
        n_heads: Heads for the rotary permutation, or 0 for none.
        shift: Add 1 to every value (Gemma norms), in float16 arithmetic for F16 checkpoints as
            llama.cpp's converter does it.
    """

    fd: int
    offset: int
    dtype: str
    row_len: int
    n_rows: int
    n_heads: int = 0
    shift: bool = False

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32, edits applied."""
        return self._edit(self._permuted_rows(start, stop))

    def read_stored(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as stored bytes (uint8), permuted like ``read``; only valid without ``shift``."""
        if self.shift:
            raise ValueError("shifted rows are computed, not stored")  # callers check stored_type first
        return np.ascontiguousarray(self._permuted_rows(start, stop)).view(np.uint8)

    @property
    def stored_type(self) -> GGMLType | None:
        """What ``read_stored`` returns, or None when the rows need arithmetic (the shift)."""
        return None if self.shift else _STORED_TYPES[self.dtype]

    def _permuted_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) in the stored dtype, in llama.cpp's q/k order when there are heads."""
        if not self.n_heads:
            return self._raw_rows(start, stop)
        if self.n_rows == 1:  # a bias vector: permuted along its only axis
            return self._raw_rows(0, 1)[:, rotary_source(np.arange(self.row_len), self.row_len // self.n_heads)]
        src = rotary_source(np.arange(start, stop), self.n_rows // self.n_heads)
        lo = int(src.min())
        return self._raw_rows(lo, int(src.max()) + 1)[src - lo]

    def _raw_rows(self, start: int, stop: int) -> np.ndarray:
        size, view = _FLOAT_DTYPES[self.dtype]
        row_bytes = self.row_len * size
        want = (stop - start) * row_bytes
        buf = os.pread(self.fd, want, self.offset + start * row_bytes)
        if len(buf) != want:
            raise CorruptInputError("A safetensors file ended in the middle of a tensor.", "Download it again.")
        return np.frombuffer(buf, dtype=view).reshape(stop - start, self.row_len)

    def _edit(self, raw: np.ndarray) -> np.ndarray:
        if self.dtype == "F16":
            if self.shift:
                raw = raw + np.float16(1)
            return raw.astype(np.float32)
        rows = widen_bf16(raw) if self.dtype == "BF16" else raw.astype(np.float32)
        if self.shift:
            rows = rows + np.float32(1)
        return np.ascontiguousarray(rows)


def rotary_source(index: np.ndarray, head: int) -> np.ndarray:
    """Source row of each output row in llama.cpp's q/k layout.

    Per head of ``head`` rows, HF keeps the two rotary halves apart and llama.cpp interleaves them:
    output row ``2i + s`` of a head comes from row ``s * head/2 + i``.
    """
    h, rest = np.divmod(index, head)
    source: np.ndarray = h * head + (rest % 2) * (head // 2) + rest // 2
    return source


def check_dtype(name: str, dtype: str) -> None:
    if dtype not in _FLOAT_DTYPES:
        raise UnsupportedInputError(
            f"Tensor {name} is stored as {dtype}; Quantpick converts only F32, F16 and BF16 checkpoints.",
            "Use the unquantized (BF16/F16) release of this model.",
        )
