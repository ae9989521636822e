"""A validating GGUF reader: header, metadata and tensor infos as frozen values, tensor data as memmaps.

Written by hand instead of wrapping ``gguf.GGUFReader`` so that every number read from the file is
checked against the file's size before anything is allocated or sliced with it. A damaged or hostile
file therefore fails fast with a CorruptInputError that says where, never with an IndexError, a
MemoryError or a multi-gigabyte allocation.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from gguf import GGUFValueType

from engine.errors import CorruptInputError, UnsupportedInputError, UsageError
from engine.formats.filebytes import mapped, memmap_bytes
from engine.formats.ggml_types import LAYOUT, GGMLType, tensor_bytes
from engine.formats.gguf_write import MetaValue

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_NAME_BYTES = 63  # GGML_MAX_NAME is 64 including the terminating NUL
MAX_DIMS = 4
MAX_LENGTH = 1 << 30  # llama.cpp refuses longer strings and arrays
_U64 = struct.Struct("<Q")
_MIN_KV_BYTES = 8 + 1 + 4 + 1  # key length, one key byte, value type, smallest payload
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8  # name length, one name byte, n_dims, one dim, type, offset

_SCALAR_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<B",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}

# Tensor types with one value per element read as typed arrays; every other type reads as raw blocks.
# BF16 has no numpy dtype, so it reads as its raw uint16 bit patterns.
_PLAIN_DTYPES: dict[GGMLType, str] = {
    GGMLType.F32: "<f4", GGMLType.F16: "<f2", GGMLType.BF16: "<u2", GGMLType.F64: "<f8",
    GGMLType.I8: "<i1", GGMLType.I16: "<i2", GGMLType.I32: "<i4", GGMLType.I64: "<i8",
}


@dataclass(frozen=True, slots=True)
class GGUFTensorInfo:
    """One tensor as the header describes it.

    ``shape`` is in GGUF ``ne`` order (row length first), the reverse of numpy's order;
    ``offset`` counts from the start of the data section.
    """

    name: str
    shape: tuple[int, ...]
    qtype: GGMLType
    offset: int
    nbytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n

    @property
    def numpy_shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.shape))


@dataclass(frozen=True, slots=True)
class GGUFFile:
    """A validated GGUF file: typed metadata in file order, tensor infos, and where the data starts."""

    path: Path
    version: int
    alignment: int
    fields: Mapping[str, MetaValue]
    tensors: tuple[GGUFTensorInfo, ...]
    data_offset: int
    file_size: int
    _by_name: Mapping[str, GGUFTensorInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({t.name: t for t in self.tensors}))

    @property
    def metadata(self) -> dict[str, Any]:
        """Plain values by key (arrays as tuples), without their GGUF value types."""
        return {key: meta.value for key, meta in self.fields.items()}

    def get(self, key: str, default: Any = None) -> Any:
        meta = self.fields.get(key)
        return default if meta is None else meta.value

    def tensor(self, name: str) -> GGUFTensorInfo:
        try:
            return self._by_name[name]
        except KeyError as e:
            raise UsageError(f"{self.path.name} has no tensor named {name!r}.") from e

    def raw(self, name: str) -> np.ndarray:
        """Zero-copy uint8 view of a tensor's bytes, shaped (rows, bytes per row)."""
        info = self.tensor(name)
        data = memmap_bytes(self.path, self.data_offset + info.offset, info.nbytes)
        n_rows = info.n_elements // info.shape[0]
        return data.reshape(n_rows, info.nbytes // n_rows)

    def view(self, name: str) -> np.ndarray:
        """Zero-copy view of a tensor: typed and numpy-shaped for plain types, else raw rows of blocks."""
        info = self.tensor(name)
        dtype = _PLAIN_DTYPES.get(info.qtype)
        if dtype is None:
            return self.raw(name)
        data = memmap_bytes(self.path, self.data_offset + info.offset, info.nbytes)
        return data.view(np.dtype(dtype)).reshape(info.numpy_shape)


class _Cursor:
    """Reads little-endian values from a buffer and refuses to step past its end."""

    __slots__ = ("buf", "pos", "size", "path")

    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.size = len(buf)
        self.path = path

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def fail(self, detail: str) -> CorruptInputError:
        return CorruptInputError(f"{self.path.name} is not a valid GGUF file: {detail}.")

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining:
            raise self.fail(
                f"{what} needs {n} bytes at offset {self.pos}, but the file ends after {self.remaining} more"
            )
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(out)

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def one(self, fmt: str, what: str) -> Any:
        return self.unpack(fmt, what)[0]

    def string(self, what: str) -> bytes:
        n = self.one("<Q", f"the length of {what}")
        if n > MAX_LENGTH or n > self.remaining:
            raise self.fail(f"{what} claims to be {n} bytes long, but only {self.remaining} bytes follow")
        return self.take(n, what)


def read_gguf(path: Path | str) -> GGUFFile:
    """Read and validate a GGUF file's header; tensor data stays on disk until ``view``/``raw``.

    Raises:
        CorruptInputError: the bytes do not form a consistent GGUF file.
        UnsupportedInputError: a valid GGUF that uses a version or tensor type Quantpick does not read.
        UsageError: the path does not name a readable file.
    """
    path = Path(path)
    with mapped(path) as buf:
        cur = _Cursor(buf, path)
        version = _read_preamble(cur)
        n_tensors, n_kv = cur.unpack("<QQ", "the tensor and metadata counts")
        _check_count(cur, n_kv, _MIN_KV_BYTES, "metadata entries")
        _check_count(cur, n_tensors, _MIN_TENSOR_INFO_BYTES, "tensors")
        fields = _read_fields(cur, n_kv)
        alignment = _alignment(cur, fields)
        infos = [_read_tensor_info(cur, i, alignment) for i in range(n_tensors)]
        data_offset = cur.pos + (-cur.pos) % alignment
        tensors = _check_layout(cur, infos, data_offset)
    return GGUFFile(
        path=path, version=version, alignment=alignment, fields=MappingProxyType(fields),
        tensors=tensors, data_offset=data_offset, file_size=cur.size,
    )


def _read_preamble(cur: _Cursor) -> int:
    if cur.size < 24:
        raise cur.fail(f"it is only {cur.size} bytes long, shorter than the 24-byte GGUF header")
    magic = cur.take(4, "the magic bytes")
    if magic != GGUF_MAGIC:
        raise cur.fail(f"it starts with {magic!r} instead of b'GGUF'")
    version = cur.one("<I", "the version")
    if version in SUPPORTED_VERSIONS:
        return version
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if version & 0xFFFF == 0 and swapped in SUPPORTED_VERSIONS:
        raise UnsupportedInputError(
            f"{cur.path.name} is a big-endian GGUF file, which llama.cpp and Quantpick do not read.",
            "Use the little-endian version of this model.",
        )
    if version == 1 or 3 < version < 256:
        raise UnsupportedInputError(
            f"{cur.path.name} is GGUF version {version}; Quantpick reads versions 2 and 3.",
            "Re-create the file with a current llama.cpp, or download a current version of it.",
        )
    raise cur.fail(f"the version field holds {version}, which no GGUF writer produces")


def _check_count(cur: _Cursor, count: int, min_bytes: int, what: str) -> None:
    if count * min_bytes > cur.remaining:
        raise cur.fail(f"the header announces {count} {what}, more than the file's {cur.size} bytes can hold")


def _read_fields(cur: _Cursor, n_kv: int) -> dict[str, MetaValue]:
    fields: dict[str, MetaValue] = {}
    for i in range(n_kv):
        raw_key = cur.string(f"the key of metadata entry #{i}")
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError as e:
            raise cur.fail(f"the key of metadata entry #{i} is not valid UTF-8") from e
        if not key:
            raise cur.fail(f"metadata entry #{i} has an empty key")
        if key in fields:
            raise cur.fail(f"the metadata key {key!r} appears twice")
        vtype = _value_type(cur, cur.one("<i", f"the value type of {key!r}"), key)
        fields[key] = _read_value(cur, vtype, key)
    return fields


def _value_type(cur: _Cursor, raw: int, key: str) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError as e:
        raise cur.fail(f"metadata {key!r} has unknown value type {raw}") from e


def _read_value(cur: _Cursor, vtype: GGUFValueType, key: str) -> MetaValue:
    if vtype == GGUFValueType.ARRAY:
        return _read_array(cur, key)
    if vtype == GGUFValueType.STRING:
        return MetaValue(vtype, _decode_value(cur.string(f"the value of {key!r}")))
    value = cur.one(_SCALAR_FORMATS[vtype], f"the value of {key!r}")
    return MetaValue(vtype, bool(value) if vtype == GGUFValueType.BOOL else value)


def _read_array(cur: _Cursor, key: str) -> MetaValue:
    item_type = _value_type(cur, cur.one("<i", f"the element type of {key!r}"), key)
    if item_type == GGUFValueType.ARRAY:
        raise cur.fail(f"metadata {key!r} is an array of arrays, which GGUF does not allow")
    count = cur.one("<Q", f"the length of array {key!r}")
    item_size = 8 if item_type == GGUFValueType.STRING else struct.calcsize(_SCALAR_FORMATS[item_type])
    if count > MAX_LENGTH or count * item_size > cur.remaining:
        raise cur.fail(f"array {key!r} claims {count} elements, more than the rest of the file can hold")
    if item_type == GGUFValueType.STRING:
        items: tuple[Any, ...] = _read_string_array(cur, count, key)
    else:
        fmt = _SCALAR_FORMATS[item_type]
        arr = np.frombuffer(cur.take(count * item_size, f"array {key!r}"), dtype=np.dtype(fmt))
        items = tuple(arr.astype(bool).tolist() if item_type == GGUFValueType.BOOL else arr.tolist())
    return MetaValue(GGUFValueType.ARRAY, items, item_type)


def _read_string_array(cur: _Cursor, count: int, key: str) -> tuple[str | bytes, ...]:
    """``cur.string`` unrolled: token lists hold 10^5 strings, and this loop dominates the header read."""
    buf, pos, size = cur.buf, cur.pos, cur.size
    unpack_len = _U64.unpack_from
    out: list[str | bytes] = []
    for i in range(count):
        if size - pos < 8:
            cur.pos = pos
            raise cur.fail(f"the file ends inside the length of element {i} of {key!r}")
        (n,) = unpack_len(buf, pos)
        pos += 8
        if n > size - pos:
            raise cur.fail(f"element {i} of {key!r} claims to be {n} bytes long, but only {size - pos} bytes follow")
        out.append(_decode_value(buf[pos:pos + n]))
        pos += n
    cur.pos = pos
    return tuple(out)


def _decode_value(raw: bytes) -> str | bytes:
    """Strings are UTF-8; the rare value that is not stays as bytes so it can be written back unchanged."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _alignment(cur: _Cursor, fields: Mapping[str, MetaValue]) -> int:
    meta = fields.get("general.alignment")
    if meta is None:
        return DEFAULT_ALIGNMENT
    if meta.vtype != GGUFValueType.UINT32:
        raise cur.fail(f"general.alignment must be a UINT32, not {meta.vtype.name}")
    value = int(meta.value)
    if value <= 0 or value & (value - 1):
        raise cur.fail(f"general.alignment is {value}, which is not a power of two")
    return value


def _read_tensor_info(cur: _Cursor, index: int, alignment: int) -> GGUFTensorInfo:
    raw_name = cur.string(f"the name of tensor #{index}")
    if not raw_name or len(raw_name) > MAX_NAME_BYTES:
        raise cur.fail(f"the name of tensor #{index} is {len(raw_name)} bytes; names must be 1 to 63 bytes")
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError as e:
        raise cur.fail(f"the name of tensor #{index} is not valid UTF-8") from e
    n_dims = cur.one("<I", f"the dimension count of {name}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise cur.fail(f"tensor {name} claims {n_dims} dimensions; GGUF allows 1 to {MAX_DIMS}")
    shape = cur.unpack(f"<{n_dims}q", f"the dimensions of {name}")
    if any(dim <= 0 for dim in shape):
        raise cur.fail(f"tensor {name} has a dimension that is not positive: {list(shape)}")
    qtype = _tensor_type(cur, cur.one("<i", f"the type of {name}"), name)
    offset = cur.one("<Q", f"the data offset of {name}")
    block = LAYOUT[qtype].block_size
    if shape[0] % block:
        raise cur.fail(f"tensor {name} has rows of {shape[0]} values, not whole {qtype.name} blocks of {block}")
    if offset % alignment:
        raise cur.fail(f"tensor {name} starts at offset {offset}, which is not a multiple of {alignment}")
    return GGUFTensorInfo(name, tuple(shape), qtype, offset, tensor_bytes(qtype, tuple(shape)))


def _tensor_type(cur: _Cursor, raw: int, name: str) -> GGMLType:
    try:
        qtype = GGMLType(raw)
    except ValueError:
        qtype = None
    if qtype is not None and qtype in LAYOUT and LAYOUT[qtype].block_size > 0:
        return qtype
    if 0 <= raw < 256:
        raise UnsupportedInputError(
            f"Tensor {name} in {cur.path.name} has tensor type {raw}, which Quantpick does not know.",
            "The file may come from a newer llama.cpp or use a retired type; try a different quantization.",
        )
    raise cur.fail(f"tensor {name} has type number {raw}, which is not a ggml tensor type")


def _check_layout(cur: _Cursor, infos: list[GGUFTensorInfo], data_offset: int) -> tuple[GGUFTensorInfo, ...]:
    seen: set[str] = set()
    for info in infos:
        if info.name in seen:
            raise cur.fail(f"the tensor name {info.name} appears twice")
        seen.add(info.name)
        end = data_offset + info.offset + info.nbytes
        if end > cur.size:
            raise cur.fail(
                f"tensor {info.name}'s data would end at byte {end}, past the end of the file ({cur.size} bytes)"
            )
    ordered = sorted(infos, key=lambda t: t.offset)
    for prev, nxt in zip(ordered, ordered[1:]):
        if nxt.offset < prev.offset + prev.nbytes:
            raise cur.fail(f"the data of tensors {prev.name} and {nxt.name} overlap")
    return tuple(infos)
