"""What the pipeline needs from any checkpoint: typed metadata and tensors readable in row chunks.

A source describes the GGUF file its reader *would* write without quantizing (for a Hugging Face folder:
exactly what llama.cpp's converter writes; for a GGUF file: the file itself), so one pipeline serves both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_write import MetaValue
from engine.quant.rules import ModelFacts

RowReader = Callable[[int, int], np.ndarray]
RawReader = Callable[[int, int], Any]


@dataclass(frozen=True, slots=True)
class SourceTensor:
    """One tensor as the source presents it.

    Attributes:
        name: GGUF tensor name.
        shape: GGUF shape, row length first.
        dtype: The tensor's type in the source's own GGUF form.
        read_rows: ``read_rows(start, stop)`` -> float32 array (stop - start, shape[0]), any edits applied.
        read_raw: ``read_raw(start, stop)`` -> the rows' bytes exactly as stored in ``dtype``, when the
            source holds them (GGUF files); None when only ``read_rows`` is available.
        read_stored: ``read_stored(start, stop)`` -> uint8 rows in ``stored_type`` (F32, F16 or BF16) that
            widen exactly to ``read_rows``'s values: rows may be reordered, never computed on. The GPU
            uploads these and widens them itself. None when an edit needs arithmetic (or no float rows).
        stored_type: The type of ``read_stored``'s bytes.
    """

    name: str
    shape: tuple[int, ...]
    dtype: GGMLType
    read_rows: RowReader
    read_raw: RawReader | None = None
    read_stored: RawReader | None = None
    stored_type: GGMLType | None = None

    @property
    def n_rows(self) -> int:
        return prod(self.shape[1:])

    @property
    def row_length(self) -> int:
        return self.shape[0]


@dataclass(frozen=True, slots=True)
class ConversionSource:
    """A checkpoint ready to convert.

    Attributes:
        kind: "gguf" or "hf".
        label: What to call it in messages (file or folder name).
        model_name: Name for default output file names (``general.name`` or the folder name).
        size_label: Parameter-count label such as "1.1B" (may be empty).
        metadata: Typed KVs in the order the source's GGUF form has them.
        tensors: Tensors in the order the source's GGUF form has them.
        facts: Hyper-parameters the type rules need.
        already_quantized: True when some eligible tensor is stored in a quantized type.
        close: Releases file handles and memory maps.
    """

    kind: str
    label: str
    model_name: str
    size_label: str
    metadata: tuple[tuple[str, MetaValue], ...]
    tensors: tuple[SourceTensor, ...]
    facts: ModelFacts
    already_quantized: bool = False
    close: Callable[[], None] = field(default=lambda: None)

    def __enter__(self) -> "ConversionSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
