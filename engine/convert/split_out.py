"""Splitting an output into llama.cpp's ``-00001-of-0000N.gguf`` parts (``--split-max-size``).

Layout as llama.cpp's gguf-split writes it: all metadata in the first part only; every part carries
``split.no`` (u16), ``split.tensors.count`` (i32) and ``split.count`` (u16), in that order at the end;
a new part starts when the next tensor (padded to 32 bytes) would push the tensor bytes over the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gguf import GGUFValueType

from engine.errors import UsageError
from engine.formats.gguf_write import DEFAULT_ALIGNMENT, MetaValue
from engine.quant.sizes import TensorChoice

_SIZE = re.compile(r"^\s*(\d+)\s*([MG])\s*$", re.IGNORECASE)
_SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")


@dataclass(frozen=True, slots=True)
class OutputPart:
    """One file of the output: where it goes, its metadata and its tensors."""

    path: Path
    metadata: tuple[tuple[str, MetaValue], ...]
    tensors: tuple[TensorChoice, ...]


def parse_split_size(text: str) -> int:
    """``"4G"`` -> 4,000,000,000 bytes; ``"500M"`` -> 500,000,000 (decimal units, as llama.cpp)."""
    match = _SIZE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise UsageError(
            f"{text!r} is not a split size.", "Write a positive whole number followed by M or G, e.g. 4G or 500M."
        )
    return int(match.group(1)) * (10**6 if match.group(2).upper() == "M" else 10**9)


def split_path(output: Path, index: int, count: int) -> Path:
    """``model.gguf`` -> ``model-00001-of-00003.gguf`` (index counts from 0)."""
    stem = output.name[:-5] if output.name.endswith(".gguf") else output.name
    return output.with_name(f"{stem}-{index + 1:05d}-of-{count:05d}.gguf")


def _padded(n: int) -> int:
    return n + (-n % DEFAULT_ALIGNMENT)


def split_parts(
    output: Path, metadata: tuple[tuple[str, MetaValue], ...], tensors: tuple[TensorChoice, ...], max_bytes: int | None
) -> tuple[OutputPart, ...]:
    """The files to write: one part without a limit, otherwise as many as the limit requires."""
    if max_bytes is None:
        return (OutputPart(output, metadata, tensors),)
    groups: list[list[TensorChoice]] = [[]]
    used = 0
    for t in tensors:
        size = _padded(t.nbytes)
        if groups[-1] and used + size > max_bytes:
            groups.append([])
            used = 0
        groups[-1].append(t)
        used += size
    count = len(groups)
    base = tuple(kv for kv in metadata if kv[0] not in _SPLIT_KEYS)
    parts = []
    for i, group in enumerate(groups):
        split_keys = (
            ("split.no", MetaValue(GGUFValueType.UINT16, i)),
            ("split.tensors.count", MetaValue(GGUFValueType.INT32, len(tensors))),
            ("split.count", MetaValue(GGUFValueType.UINT16, count)),
        )
        parts.append(OutputPart(split_path(output, i, count), (base if i == 0 else ()) + split_keys, tuple(group)))
    return tuple(parts)
