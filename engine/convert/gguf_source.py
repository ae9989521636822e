"""A GGUF file (or split GGUF) as a conversion source, read with bounded memory.

Rows are read with ``os.pread`` into small buffers rather than through a memory map, so the resident
memory of a conversion stays flat however large the model is (touched map pages count as resident).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from engine.convert.source import ConversionSource, SourceTensor
from engine.errors import CorruptInputError
from engine.formats.ggml_types import GGMLType, row_bytes
from engine.formats.gguf_read import GGUFFile, GGUFTensorInfo, read_gguf
from engine.formats.gguf_split import read_gguf_split, split_part_paths
from engine.quant import dequantize
from engine.quant.rules import ModelFacts, is_quantizable

UNQUANTIZED = frozenset({GGMLType.F32, GGMLType.F16, GGMLType.BF16})


def _read_raw_rows(fd: int, base: int, row_len_bytes: int, start: int, stop: int) -> np.ndarray:
    """Bytes of rows [start, stop) of a tensor whose data begins at file offset ``base``."""
    want = (stop - start) * row_len_bytes
    buf = os.pread(fd, want, base + start * row_len_bytes)
    if len(buf) != want:
        raise CorruptInputError("The GGUF file ended in the middle of a tensor.", "Download the file again.")
    return np.frombuffer(buf, dtype=np.uint8).reshape(stop - start, row_len_bytes)


def _read_float_rows(raw_reader, qtype: GGMLType, row_length: int, start: int, stop: int) -> np.ndarray:
    return dequantize(raw_reader(start, stop), qtype, row_length)


def _source_tensor(fd: int, part: GGUFFile, info: GGUFTensorInfo) -> SourceTensor:
    rb = row_bytes(info.qtype, info.shape[0])
    raw = partial(_read_raw_rows, fd, part.data_offset + info.offset, rb)
    rows = partial(_read_float_rows, raw, info.qtype, info.shape[0])
    stored = info.qtype in UNQUANTIZED  # float rows widen exactly as stored
    return SourceTensor(info.name, info.shape, info.qtype, rows, raw, raw if stored else None,
                        info.qtype if stored else None)


def open_gguf_source(path: Path | str) -> ConversionSource:
    """Open a GGUF file; a ``-00001-of-0000N.gguf`` name opens every part as one model."""
    path = Path(path)
    if split_part_paths(path):
        split = read_gguf_split(path)
        parts, fields = split.parts, split.fields
    else:
        single = read_gguf(path)
        parts, fields = (single,), single.fields
    fds = [os.open(p.path, os.O_RDONLY) for p in parts]

    def close() -> None:
        for fd in fds:
            os.close(fd)

    tensors = tuple(
        _source_tensor(fd, part, info) for fd, part in zip(fds, parts) for info in part.tensors
    )
    metadata = {key: meta.value for key, meta in fields.items()}
    quantized = any(
        t.dtype not in UNQUANTIZED and is_quantizable(t.name, t.shape) for t in tensors
    )
    name = str(metadata.get("general.name") or path.stem)
    return ConversionSource(
        kind="gguf",
        label=path.name,
        model_name=name,
        size_label=str(metadata.get("general.size_label") or ""),
        metadata=tuple(fields.items()),
        tensors=tensors,
        facts=ModelFacts.from_gguf_metadata(metadata),
        already_quantized=quantized,
        close=close,
    )
