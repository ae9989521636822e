"""Sharded safetensors: the index and the shards must agree, and names must stay in the folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.errors import CorruptInputError
from engine.formats.safetensors_index import INDEX_NAME, from_files, read_safetensors_index
from tests.unit.engine.formats.builders import safetensors_from_arrays, write

A = np.arange(6, dtype=np.float32).reshape(2, 3)
B = np.arange(4, dtype=np.int32)
C = np.ones(5, dtype=np.float16)


def sharded(folder: Path, weight_map: dict[str, Any] | None = None, index: Any = None) -> Path:
    write(folder / "model-00001-of-00002.safetensors", safetensors_from_arrays({"a": ("F32", A), "b": ("I32", B)}))
    write(folder / "model-00002-of-00002.safetensors", safetensors_from_arrays({"c": ("F16", C)}))
    if weight_map is None:
        weight_map = {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                      "c": "model-00002-of-00002.safetensors"}
    body = index if index is not None else {"metadata": {"total_size": 46}, "weight_map": weight_map}
    return write(folder / INDEX_NAME, body if isinstance(body, bytes) else json.dumps(body).encode())


def test_index_reads_all_shards_as_one(tmp_path: Path) -> None:
    model = read_safetensors_index(sharded(tmp_path))
    assert len(model.files) == 2 and model.index_path == tmp_path / INDEX_NAME
    assert [t.name for t in model.tensors] == ["a", "b", "c"]
    np.testing.assert_array_equal(model.view("a"), A)
    np.testing.assert_array_equal(model.view("c"), C)
    np.testing.assert_array_equal(model.to_float32("c"), C.astype(np.float32))
    assert model.file_of("c").path.name == "model-00002-of-00002.safetensors"
    assert model.parameters_by_dtype() == {"F32": 6, "F16": 5, "I32": 4}
    assert model.size_on_disk == sum(p.stat().st_size for p in tmp_path.glob("*.safetensors"))


@pytest.mark.parametrize("name", [
    "../evil.safetensors", "/etc/passwd.safetensors", "sub/../../x.safetensors", "a\\..\\b.safetensors",
    "C:evil.safetensors", "", ".", "model.bin", 7,
])
def test_weight_map_names_must_stay_inside_the_folder(tmp_path: Path, name: Any) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    write(tmp_path / "evil.safetensors", safetensors_from_arrays({"a": ("F32", A)}))
    index = sharded(folder, {"a": name, "b": "model-00001-of-00002.safetensors"})
    with pytest.raises(CorruptInputError, match="not a file name inside the folder"):
        read_safetensors_index(index)


def test_subfolder_inside_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "x.safetensors", safetensors_from_arrays({"z": ("F32", A)}))
    write(tmp_path / INDEX_NAME, json.dumps({"weight_map": {"z": "sub/x.safetensors"}}).encode())
    np.testing.assert_array_equal(read_safetensors_index(tmp_path / INDEX_NAME).view("z"), A)


def test_missing_shard(tmp_path: Path) -> None:
    index = sharded(tmp_path)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CorruptInputError, match="lists model-00002-of-00002.safetensors, which is not in"):
        read_safetensors_index(index)


def test_tensor_listed_but_absent(tmp_path: Path) -> None:
    index = sharded(tmp_path, {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                               "c": "model-00001-of-00002.safetensors"})
    with pytest.raises(CorruptInputError, match="lists c in model-00001-of-00002.safetensors, but that file"):
        read_safetensors_index(index)


def test_tensor_present_but_unlisted(tmp_path: Path) -> None:
    index = sharded(tmp_path, {"a": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"})
    with pytest.raises(CorruptInputError, match="does not list b"):
        read_safetensors_index(index)


@pytest.mark.parametrize("body,fragment", [
    (b"{oops", "not valid JSON"),
    ({"weight_map": []}, "no weight_map"),
    ({"metadata": {}}, "no weight_map"),
    ([1, 2], "no weight_map"),
])
def test_bad_index_json(tmp_path: Path, body: Any, fragment: str) -> None:
    with pytest.raises(CorruptInputError, match=fragment):
        read_safetensors_index(sharded(tmp_path, index=body))


def test_files_without_index_must_not_share_names(tmp_path: Path) -> None:
    one = write(tmp_path / "one.safetensors", safetensors_from_arrays({"a": ("F32", A)}))
    two = write(tmp_path / "two.safetensors", safetensors_from_arrays({"a": ("F32", A)}))
    with pytest.raises(CorruptInputError, match="appears in both one.safetensors and two.safetensors"):
        from_files([one, two])
