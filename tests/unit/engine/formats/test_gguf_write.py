"""The streaming writer lays files out as llama-quantize does and never leaves a partial file behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_write import GGUFStreamWriter, MetaValue, TensorSlot, gguf_file_size
from tests.conftest import GOLDEN


def typed_metadata(reader: GGUFReader) -> list[tuple[str, MetaValue]]:
    """Metadata in file order with its types, as read by the independent gguf package."""
    out = []
    for field in reader.fields.values():
        if field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            item = field.types[1]
            out.append((field.name, MetaValue(vtype, field.contents(), item)))
        else:
            out.append((field.name, MetaValue(vtype, field.contents())))
    return out


def test_copy_of_llama_quantize_output_is_byte_identical(tmp_path: Path) -> None:
    """Re-emitting the golden Q4_K_M file header and data through our writer gives the same bytes."""
    source = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"
    reader = GGUFReader(source)
    meta = typed_metadata(reader)
    slots = [TensorSlot(t.name, tuple(int(d) for d in t.shape), GGMLType(t.tensor_type)) for t in reader.tensors]
    out = tmp_path / "copy.gguf"
    with GGUFStreamWriter(out, meta, slots) as writer:
        for t in reader.tensors:
            data = np.array(t.data).view(np.uint8).reshape(-1)
            half = data.size // 2
            writer.write(data[:half])
            writer.write(data[half:])
    assert out.read_bytes() == source.read_bytes()
    assert gguf_file_size(meta, slots) == source.stat().st_size
    assert not (tmp_path / "copy.gguf.partial").exists()


def test_failure_midway_leaves_no_file(tmp_path: Path) -> None:
    slots = [TensorSlot("a.weight", (32, 2), GGMLType.F32)]
    out = tmp_path / "x.gguf"
    with pytest.raises(RuntimeError):
        with GGUFStreamWriter(out, [("general.architecture", MetaValue(GGUFValueType.STRING, "llama"))], slots) as w:
            w.write(np.zeros(16, np.float32))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_missing_tensor_bytes_is_an_error_and_no_file(tmp_path: Path) -> None:
    slots = [TensorSlot("a.weight", (32, 2), GGMLType.F32)]
    out = tmp_path / "x.gguf"
    with pytest.raises(UsageError):
        with GGUFStreamWriter(out, [], slots) as w:
            w.write(np.zeros(16, np.float32))
    assert list(tmp_path.iterdir()) == []


def test_too_many_bytes_is_refused(tmp_path: Path) -> None:
    slots = [TensorSlot("a.weight", (32, 1), GGMLType.F32)]
    with pytest.raises(UsageError):
        with GGUFStreamWriter(tmp_path / "x.gguf", [], slots) as w:
            w.write(np.zeros(33, np.float32))
