"""Weights spread over several safetensors files, read as one set of named tensors.

A sharded checkpoint lists its files in ``model.safetensors.index.json``. That list is untrusted too:
file names must stay inside the checkpoint's folder, every listed file must exist, and the index and the
shards must agree tensor by tensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from engine.errors import CorruptInputError, UsageError
from engine.formats.filebytes import file_size, head
from engine.formats.safetensors import (
    MAX_HEADER_BYTES,
    SafetensorInfo,
    SafetensorsFile,
    load_strict_json,
    read_safetensors,
)

INDEX_NAME = "model.safetensors.index.json"
_MISSING_HINT = "The download looks incomplete; download the missing files again."


@dataclass(frozen=True, slots=True)
class SafetensorsModel:
    """One or more safetensors files whose tensor names are unique across all of them."""

    files: tuple[SafetensorsFile, ...]
    index_path: Path | None
    owner: Mapping[str, int]  # tensor name -> position in ``files``

    @property
    def tensors(self) -> tuple[SafetensorInfo, ...]:
        return tuple(t for f in self.files for t in f.tensors)

    @property
    def size_on_disk(self) -> int:
        return sum(f.file_size for f in self.files)

    def file_of(self, name: str) -> SafetensorsFile:
        try:
            return self.files[self.owner[name]]
        except KeyError as e:
            raise UsageError(f"The checkpoint has no tensor named {name!r}.") from e

    def tensor(self, name: str) -> SafetensorInfo:
        return self.file_of(name).tensor(name)

    def view(self, name: str) -> np.ndarray:
        return self.file_of(name).view(name)

    def to_float32(self, name: str) -> np.ndarray:
        return self.file_of(name).to_float32(name)

    def parameters_by_dtype(self) -> dict[str, int]:
        """Element counts per dtype, largest first."""
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.dtype] = counts.get(t.dtype, 0) + t.n_elements
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def from_files(paths: Iterable[Path | str]) -> SafetensorsModel:
    """Several safetensors files without an index: their union, with each tensor name in one file only."""
    files = tuple(read_safetensors(p) for p in paths)
    owner: dict[str, int] = {}
    for i, f in enumerate(files):
        for t in f.tensors:
            if t.name in owner:
                other = files[owner[t.name]].path.name
                raise CorruptInputError(
                    f"Tensor {t.name} appears in both {other} and {f.path.name}.",
                    "Keep only one copy of the weights in the folder.",
                )
            owner[t.name] = i
    return SafetensorsModel(files, None, owner)


def read_safetensors_index(index_path: Path | str) -> SafetensorsModel:
    """Read ``model.safetensors.index.json`` and every shard it names, checking they agree.

    Raises:
        CorruptInputError: bad JSON, an unsafe or missing file name, or index and shards that disagree.
        UsageError: the index file cannot be read.
    """
    index_path = Path(index_path)
    weight_map = _weight_map(index_path)
    names = list(dict.fromkeys(weight_map.values()))
    folder = index_path.parent
    for name in names:
        if not (folder / name).is_file():
            raise CorruptInputError(f"{index_path.name} lists {name}, which is not in {folder}.", _MISSING_HINT)
    files = tuple(read_safetensors(folder / name) for name in names)
    position = {name: i for i, name in enumerate(names)}
    owner = {tensor: position[fname] for tensor, fname in weight_map.items()}
    for i, f in enumerate(files):
        listed = {t for t, pos in owner.items() if pos == i}
        present = {t.name for t in f.tensors}
        if listed != present:
            _disagree(index_path.name, f.path.name, listed, present)
    return SafetensorsModel(files, index_path, owner)


def _disagree(index_name: str, shard: str, listed: set[str], present: set[str]) -> None:
    missing, extra = sorted(listed - present), sorted(present - listed)
    if missing:
        detail = f"lists {missing[0]} in {shard}, but that file does not contain it"
    else:
        detail = f"does not list {extra[0]}, which {shard} contains"
    raise CorruptInputError(f"{index_name} {detail}.", _MISSING_HINT)


def _weight_map(index_path: Path) -> dict[str, str]:
    size = file_size(index_path)
    if size > MAX_HEADER_BYTES:
        raise CorruptInputError(f"{index_path.name} is {size:,} bytes, far larger than any real index.")
    try:
        obj: Any = load_strict_json(head(index_path, size))
    except (ValueError, RecursionError) as e:
        raise CorruptInputError(f"{index_path.name} is not valid JSON ({e}).") from e
    weight_map = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CorruptInputError(f"{index_path.name} has no weight_map object naming the weight files.")
    for tensor, fname in weight_map.items():
        if not isinstance(fname, str) or not _inside_folder(fname):
            raise CorruptInputError(
                f"{index_path.name} maps {tensor} to {fname!r}, which is not a file name inside the folder.",
                "Index files may only name .safetensors files next to them; this one may be malicious.",
            )
    return weight_map


def _inside_folder(name: str) -> bool:
    """A relative path that cannot leave the folder it is resolved against, naming a .safetensors file."""
    if not name or "\\" in name or "\0" in name or ":" in name:
        return False
    pure = PurePosixPath(name)
    return (
        not pure.is_absolute()
        and all(part not in ("", ".", "..") for part in name.split("/"))
        and pure.suffix == ".safetensors"
    )
