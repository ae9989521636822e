"""Compare a ConversionSource with a GGUF file read by gguf-py's independent reader."""

from __future__ import annotations

from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType

from engine.convert.source import ConversionSource
from engine.formats.ggml_types import GGMLType
from engine.quant import quantize


def reference_kvs(reader: GGUFReader) -> list[tuple[str, list[int], Any]]:
    """(key, value types, value) for every KV of the file, in file order."""
    out = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == GGUFValueType.ARRAY:
            value: Any = [field.contents(i) for i in range(len(field.data))]
        else:
            value = field.contents()
        out.append((key, [int(t) for t in field.types], value))
    return out


def source_kvs(source: ConversionSource) -> list[tuple[str, list[int], Any]]:
    """The same view of a source's metadata, values rounded through their GGUF types."""
    out = []
    for key, meta in source.metadata:
        if meta.vtype == GGUFValueType.ARRAY:
            assert meta.item_type is not None
            value: Any = [_plain(v, meta.item_type) for v in meta.value]
            out.append((key, [int(meta.vtype), int(meta.item_type)], value))
        else:
            out.append((key, [int(meta.vtype)], _plain(meta.value, meta.vtype)))
    return out


def _plain(value: Any, vtype: GGUFValueType) -> Any:
    if vtype == GGUFValueType.FLOAT32:
        return float(np.float32(value))
    if vtype == GGUFValueType.STRING and isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def tensor_bytes(source_tensor: Any) -> bytes:
    """What the pipeline writes for a tensor: its rows in the tensor's type (F32 kept as is)."""
    rows = source_tensor.read_rows(0, source_tensor.n_rows)
    if source_tensor.dtype == GGMLType.F32:
        return np.ascontiguousarray(rows, dtype=np.float32).tobytes()
    return np.asarray(quantize(rows, source_tensor.dtype.name)).tobytes()


def tensor_table(source: ConversionSource) -> list[tuple[str, tuple[int, ...], GGMLType]]:
    return [(t.name, t.shape, t.dtype) for t in source.tensors]


def reference_tensor_table(reader: GGUFReader) -> list[tuple[str, tuple[int, ...], GGMLType]]:
    return [(t.name, tuple(int(d) for d in t.shape), GGMLType(t.tensor_type)) for t in reader.tensors]
