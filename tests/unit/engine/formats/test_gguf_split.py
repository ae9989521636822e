"""Split GGUF files written by gguf-py's own writer read back as one model."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from engine.errors import CorruptInputError, UnsupportedInputError, UsageError
from engine.formats.detect import InputKind, detect
from engine.formats.gguf_split import SPLIT_KEYS, read_gguf_split, split_part_paths
from engine.formats.summary import summarize
from tests.unit.engine.formats.builders import base_gguf, base_kvs, kv, write

U16 = 2


def write_split(folder: Path, n_tensors: int = 3, *, stem: str = "model") -> list[Path]:
    """gguf-py writes one part per tensor: stem-00001-of-0000N.gguf ..."""
    writer = gguf.GGUFWriter(folder / f"{stem}.gguf", "llama", split_max_tensors=1)
    writer.add_block_count(n_tensors)
    writer.add_context_length(512)
    for i in range(n_tensors):
        writer.add_tensor(f"blk.{i}.w", np.full((2, 32), i, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return [folder / f"{stem}-{i:05d}-of-{n_tensors:05d}.gguf" for i in range(1, n_tensors + 1)]


def test_split_reads_as_one_model_from_any_part(tmp_path: Path) -> None:
    parts = write_split(tmp_path)
    for part in parts:
        model = read_gguf_split(part)
        assert [p.path for p in model.parts] == parts
        assert [t.name for t in model.tensors] == ["blk.0.w", "blk.1.w", "blk.2.w"]
        assert model.get("llama.block_count") == 3
        assert not any(key in model.fields for key in SPLIT_KEYS)
        assert model.file_size == sum(p.stat().st_size for p in parts)
        for i in range(3):
            np.testing.assert_array_equal(model.view(f"blk.{i}.w"), np.full((2, 32), i, dtype=np.float32))
            assert model.part_of(f"blk.{i}.w").path == parts[i]


def test_split_detect_and_summary(tmp_path: Path) -> None:
    parts = write_split(tmp_path)
    assert detect(parts[1]) is InputKind.GGUF_SPLIT
    s = summarize(parts[2])
    assert s.kind == "gguf-split" and s.files == 3 and s.tensor_count == 3
    assert s.parameters == 3 * 64 and s.layers == 3 and s.context_length == 512
    assert s.size_on_disk == sum(p.stat().st_size for p in parts)
    assert "split into 3 parts" in s.description


def test_missing_part_is_corrupt(tmp_path: Path) -> None:
    parts = write_split(tmp_path)
    parts[1].unlink()
    with pytest.raises(CorruptInputError, match=r"Part 2 of 3 .*model-00002-of-00003.gguf.* is missing"):
        read_gguf_split(parts[0])


def test_swapped_parts_are_corrupt(tmp_path: Path) -> None:
    parts = write_split(tmp_path)
    a, b = parts[0].read_bytes(), parts[2].read_bytes()
    parts[0].write_bytes(b)
    parts[2].write_bytes(a)
    with pytest.raises(CorruptInputError, match="metadata says part 3 of 3"):
        read_gguf_split(parts[1])


def test_parts_from_different_splits_disagree(tmp_path: Path) -> None:
    parts = write_split(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    parts[1].write_bytes(write_split(other, n_tensors=3)[1].read_bytes().replace(b"blk.1.w", b"blk.0.w"))
    with pytest.raises(CorruptInputError, match="appears in both"):
        read_gguf_split(parts[0])


def test_tensor_total_must_match(tmp_path: Path) -> None:
    kvs = base_kvs() + [kv("split.no", U16, struct.pack("<H", 0)), kv("split.count", U16, struct.pack("<H", 1)),
                        kv("split.tensors.count", 5, struct.pack("<i", 9))]
    path = write(tmp_path / "x-00001-of-00001.gguf", base_gguf(kvs=kvs))
    with pytest.raises(CorruptInputError, match="says it has 9 tensors, but its parts hold 2"):
        read_gguf_split(path)


def test_part_number_outside_count_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(CorruptInputError, match="part 4 of 3"):
        split_part_paths(tmp_path / "m-00004-of-00003.gguf")


def test_plain_name_is_not_a_split(tmp_path: Path) -> None:
    assert split_part_paths(tmp_path / "model.gguf") is None
    with pytest.raises(UsageError):
        read_gguf_split(tmp_path / "model.gguf")


def test_renamed_part_of_a_split_is_explained(tmp_path: Path) -> None:
    parts = write_split(tmp_path)
    renamed = parts[0].rename(tmp_path / "model.gguf")
    assert detect(renamed) is InputKind.GGUF
    with pytest.raises(UnsupportedInputError, match="one part of a model split into 3 files"):
        summarize(renamed)


def test_single_part_split_without_keys_is_a_plain_gguf(tmp_path: Path) -> None:
    path = write(tmp_path / "m-00001-of-00001.gguf", base_gguf())
    assert detect(path) is InputKind.GGUF
    model = read_gguf_split(path)
    assert [t.name for t in model.tensors] == ["a", "b"]
