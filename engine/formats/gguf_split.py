"""Split GGUF models (``name-00001-of-00003.gguf``) read as one model.

llama.cpp's gguf-split and gguf-py's writer both put the whole metadata in the first part and give every
part ``split.no`` (0-based), ``split.count`` and ``split.tensors.count``. Each part is validated on its
own; here the parts must also agree with each other and with their file names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.errors import CorruptInputError, UsageError
from engine.formats.gguf_read import GGUFFile, GGUFTensorInfo, read_gguf
from engine.formats.gguf_write import MetaValue

KEY_NO = "split.no"
KEY_COUNT = "split.count"
KEY_TENSORS = "split.tensors.count"
SPLIT_KEYS = (KEY_NO, KEY_COUNT, KEY_TENSORS)
SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
_MISSING_HINT = "Download every part of the model into the same folder, keeping the original file names."


@dataclass(frozen=True, slots=True)
class GGUFSplit:
    """The parts of a split GGUF as one model: metadata of the first part, tensors of all parts."""

    parts: tuple[GGUFFile, ...]
    fields: Mapping[str, MetaValue]  # the first part's metadata without the split.* keys
    tensors: tuple[GGUFTensorInfo, ...]  # in part order, then file order
    owner: Mapping[str, int]  # tensor name -> index in ``parts``

    @property
    def path(self) -> Path:
        return self.parts[0].path

    @property
    def file_size(self) -> int:
        return sum(p.file_size for p in self.parts)

    @property
    def metadata(self) -> dict[str, Any]:
        return {key: meta.value for key, meta in self.fields.items()}

    def get(self, key: str, default: Any = None) -> Any:
        meta = self.fields.get(key)
        return default if meta is None else meta.value

    def part_of(self, name: str) -> GGUFFile:
        try:
            return self.parts[self.owner[name]]
        except KeyError as e:
            raise UsageError(f"The split model {self.path.name} has no tensor named {name!r}.") from e

    def tensor(self, name: str) -> GGUFTensorInfo:
        return self.part_of(name).tensor(name)

    def view(self, name: str) -> np.ndarray:
        return self.part_of(name).view(name)

    def raw(self, name: str) -> np.ndarray:
        return self.part_of(name).raw(name)


def split_part_paths(path: Path) -> list[Path] | None:
    """All part paths of the split ``path`` belongs to, judged by its name; None if it is not so named."""
    m = SPLIT_NAME.match(path.name)
    if m is None:
        return None
    count, number = int(m["count"]), int(m["no"])
    if count < 1 or not 1 <= number <= count:
        raise CorruptInputError(
            f"{path.name} calls itself part {number} of {count}, which cannot be.",
            "Give the parts their original names, as name-00001-of-00003.gguf and so on.",
        )
    width = len(m["no"])
    return [path.with_name(f"{m['prefix']}-{i:0{width}d}-of-{m['count']}.gguf") for i in range(1, count + 1)]


def read_gguf_split(path: Path | str) -> GGUFSplit:
    """Read every part of the split GGUF that ``path`` (any of its parts) belongs to.

    Raises:
        CorruptInputError: a part is missing, damaged, or disagrees with the others.
        UsageError: ``path`` is not named like a part of a split GGUF.
    """
    path = Path(path)
    paths = split_part_paths(path)
    if paths is None:
        raise UsageError(f"{path.name} is not named like part of a split GGUF (name-00001-of-00003.gguf).")
    for i, part_path in enumerate(paths):
        if not part_path.is_file():
            raise CorruptInputError(
                f"Part {i + 1} of {len(paths)} of this split model ({part_path.name}) is missing.", _MISSING_HINT
            )
    parts = tuple(read_gguf(p) for p in paths)
    total = _check_split_keys(parts)
    owner: dict[str, int] = {}
    tensors: list[GGUFTensorInfo] = []
    for i, part in enumerate(parts):
        for info in part.tensors:
            if info.name in owner:
                raise CorruptInputError(
                    f"Tensor {info.name} appears in both {parts[owner[info.name]].path.name} and {part.path.name}."
                )
            owner[info.name] = i
            tensors.append(info)
    if total is not None and total != len(tensors):
        raise CorruptInputError(
            f"The split model {paths[0].name} says it has {total} tensors, but its parts hold {len(tensors)}.",
            _MISSING_HINT,
        )
    fields = {k: v for k, v in parts[0].fields.items() if k not in SPLIT_KEYS}
    return GGUFSplit(parts, MappingProxyType(fields), tuple(tensors), MappingProxyType(owner))


def _int_key(part: GGUFFile, key: str) -> int | None:
    value = part.get(key)
    if value is None:
        return None
    if type(value) is not int:
        raise CorruptInputError(f"{part.path.name} has a {key} that is not a number: {value!r}.")
    return value


def _check_split_keys(parts: tuple[GGUFFile, ...]) -> int | None:
    """Each part must state its own number and the same count and tensor total; returns that total."""
    count = len(parts)
    totals = set()
    for i, part in enumerate(parts):
        number, stated, total = (_int_key(part, k) for k in SPLIT_KEYS)
        if count == 1 and stated is None:
            return None  # a lone "-00001-of-00001" file written without split keys is just a GGUF
        if stated != count or number != i:
            raise CorruptInputError(
                f"{part.path.name} is named part {i + 1} of {count}, but its metadata says "
                f"part {None if number is None else number + 1} of {stated}.",
                _MISSING_HINT,
            )
        totals.add(total)
    if len(totals) != 1:
        raise CorruptInputError(f"The parts of {parts[0].path.name} disagree on how many tensors the model has.")
    return totals.pop()
