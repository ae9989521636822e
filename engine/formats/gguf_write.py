"""Streaming GGUF writer laid out exactly as llama.cpp's C writer does it.

The whole header (metadata and tensor infos) is known up front, so tensor data can stream to disk one
chunk at a time. The file is written under ``<name>.partial`` and renamed only when complete, so a crash
or a cancel never leaves a file under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from gguf import GGUFValueType

from engine.errors import OutOfDiskError, UsageError
from engine.formats.ggml_types import GGMLType, tensor_bytes
from engine.formats.writeback import BackgroundFlush

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32
PARTIAL_SUFFIX = ".partial"

_SCALAR_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}


@dataclass(frozen=True, slots=True)
class MetaValue:
    """One typed metadata value; arrays carry their element type in ``item_type``."""

    vtype: GGUFValueType
    value: Any
    item_type: GGUFValueType | None = None


@dataclass(frozen=True, slots=True)
class TensorSlot:
    """A tensor as the header announces it: name, GGUF shape (row length first) and type."""

    name: str
    shape: tuple[int, ...]
    qtype: GGMLType

    @property
    def nbytes(self) -> int:
        return tensor_bytes(self.qtype, self.shape)


def _pad(n: int, alignment: int) -> int:
    return (alignment - n % alignment) % alignment


def _encode_string(s: str | bytes) -> bytes:
    raw = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(raw)) + raw


def _encode_scalar(vtype: GGUFValueType, value: Any) -> bytes:
    if vtype == GGUFValueType.STRING:
        return _encode_string(value)
    return struct.pack(_SCALAR_FORMATS[vtype], value)


def encode_value(meta: MetaValue) -> bytes:
    """Payload bytes of a KV value (type tag included) in GGUF little-endian encoding."""
    head = struct.pack("<i", int(meta.vtype))
    if meta.vtype != GGUFValueType.ARRAY:
        return head + _encode_scalar(meta.vtype, meta.value)
    if meta.item_type is None or meta.item_type == GGUFValueType.ARRAY:
        raise UsageError("A GGUF array needs a non-array element type.")
    items = list(meta.value)
    head += struct.pack("<iQ", int(meta.item_type), len(items))
    if meta.item_type == GGUFValueType.STRING:
        return head + b"".join(_encode_string(s) for s in items)
    return head + np.asarray(items, dtype=np.dtype(_SCALAR_FORMATS[meta.item_type])).tobytes()


def trimmed_dims(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing size-1 dimensions (keeping at least one), as the C writer counts n_dims."""
    dims = list(shape)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return tuple(dims)


def encode_header(
    metadata: list[tuple[str, MetaValue]], tensors: list[TensorSlot], alignment: int = DEFAULT_ALIGNMENT
) -> bytes:
    """Magic, counts, KVs and tensor infos, zero-padded to the alignment."""
    parts = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(tensors), len(metadata))]
    seen: set[str] = set()
    for key, meta in metadata:
        if not key or key in seen:
            raise UsageError(f"Metadata key {key!r} is empty or appears twice.")
        seen.add(key)
        parts.append(_encode_string(key) + encode_value(meta))
    offset = 0
    for slot in tensors:
        dims = trimmed_dims(slot.shape)
        if len(slot.name.encode("utf-8")) >= 64:
            raise UsageError(f"Tensor name {slot.name!r} is longer than GGUF allows (63 bytes).")
        parts.append(_encode_string(slot.name) + struct.pack(f"<I{len(dims)}q", len(dims), *dims))
        parts.append(struct.pack("<iQ", int(slot.qtype), offset))
        offset += slot.nbytes + _pad(slot.nbytes, alignment)
    header = b"".join(parts)
    return header + b"\0" * _pad(len(header), alignment)


def gguf_file_size(
    metadata: list[tuple[str, MetaValue]], tensors: list[TensorSlot], alignment: int = DEFAULT_ALIGNMENT
) -> int:
    """Exact size of the file ``GGUFStreamWriter`` would write for this header."""
    data = sum(t.nbytes + _pad(t.nbytes, alignment) for t in tensors)
    return len(encode_header(metadata, tensors, alignment)) + data


class GGUFStreamWriter:
    """Write a GGUF file tensor by tensor; use as a context manager.

    Tensors must be written in header order; each may arrive in several chunks. Leaving the ``with``
    block without an exception checks that every byte arrived, renames the ``.partial`` file to the
    final name and returns; any exception deletes the partial file.
    """

    def __init__(
        self, path: Path | str, metadata: list[tuple[str, MetaValue]], tensors: list[TensorSlot],
        *, alignment: int = DEFAULT_ALIGNMENT,
    ) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self._header = encode_header(metadata, tensors, alignment)
        self._tensors = tensors
        self._alignment = alignment
        self._index = 0
        self._written = 0
        self._fh: BinaryIO | None = None
        self._flush: BackgroundFlush | None = None

    def __enter__(self) -> "GGUFStreamWriter":
        self._fh = open(self.partial, "wb")
        self._flush = BackgroundFlush(self._fh.fileno())
        self._guarded(self._fh.write, self._header)
        return self

    def write(self, chunk: Any) -> None:
        """Append bytes (any buffer: bytes, numpy array) of the current tensor."""
        if self._fh is None or self._index >= len(self._tensors):
            raise UsageError("All tensors were already written; nothing more fits in this file.")
        view = memoryview(np.ascontiguousarray(chunk)).cast("B") if not isinstance(chunk, bytes) else chunk
        slot = self._tensors[self._index]
        if self._written + len(view) > slot.nbytes:
            raise UsageError(f"Tensor {slot.name} received more bytes than its type and shape allow.")
        self._guarded(self._fh.write, view)
        self._guarded(self._flush.wrote, len(view))  # type: ignore[union-attr] - set with _fh
        self._written += len(view)
        if self._written == slot.nbytes:
            self._guarded(self._fh.write, b"\0" * _pad(slot.nbytes, self._alignment))
            self._index += 1
            self._written = 0

    @property
    def current(self) -> TensorSlot | None:
        """The tensor the next ``write`` continues, or None when all are complete."""
        return self._tensors[self._index] if self._index < len(self._tensors) else None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._fh is not None
        try:
            if exc_type is None:
                self._finish()
        finally:
            with contextlib.suppress(OSError):  # the sync thread's error was raised already, or the write's is
                self._stop_flush()
            with contextlib.suppress(OSError):  # a full disk fails the buffer's flush again; the file goes anyway
                self._fh.close()
            self.partial.unlink(missing_ok=True)

    def _finish(self) -> None:
        assert self._fh is not None
        if self._index != len(self._tensors):
            missing = self._tensors[self._index].name
            raise UsageError(
                f"The output stopped before tensor {missing} was complete.",
                "This is a bug in the converter; please report it.",
            )
        self._guarded(self._fh.flush)
        self._guarded(self._stop_flush)
        self._guarded(os.fsync, self._fh.fileno())
        self._guarded(self._fh.close)
        os.replace(self.partial, self.path)

    def _stop_flush(self) -> None:
        """Stop the background sync (once), before the descriptor it syncs is closed."""
        flush, self._flush = self._flush, None
        if flush is not None:
            flush.close()

    def _guarded(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OutOfDiskError(f"The disk holding {self.path.parent} is full.") from e
            raise
