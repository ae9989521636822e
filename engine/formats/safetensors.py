"""A strict safetensors parser with zero-copy memory-mapped tensor views.

The header is untrusted JSON: its length is bounded before it is read, and every tensor entry is checked
(known dtype, non-negative shape, byte size matching the shape, offsets that tile the data section with no
gap, overlap or overhang) before any tensor is mapped. Sharded checkpoints are in ``safetensors_index``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.errors import CorruptInputError, UnsupportedInputError, UsageError
from engine.formats.filebytes import file_size, head, memmap_bytes

MAX_HEADER_BYTES = 100_000_000


@dataclass(frozen=True, slots=True)
class DType:
    """A safetensors dtype: bytes per element and the numpy dtype its raw bytes are viewed as."""

    itemsize: int
    numpy: str


DTYPES: dict[str, DType] = {
    "F32": DType(4, "<f4"), "F16": DType(2, "<f2"),
    "BF16": DType(2, "<u2"),  # numpy has no bfloat16: the raw bit patterns, widened by to_float32
    "F8_E4M3": DType(1, "u1"), "F8_E5M2": DType(1, "u1"),  # raw bytes, widened by to_float32
    "I8": DType(1, "i1"), "I16": DType(2, "<i2"), "I32": DType(4, "<i4"), "I64": DType(8, "<i8"),
    "U8": DType(1, "u1"), "BOOL": DType(1, "?"),
}
# Valid safetensors dtypes that no model Quantpick converts stores its weights in.
UNSUPPORTED_DTYPES = frozenset({"F64", "U16", "U32", "U64", "C64", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"})
_ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})


@dataclass(frozen=True, slots=True)
class SafetensorInfo:
    """One tensor entry; ``start``/``end`` count bytes from the start of the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def n_elements(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n


@dataclass(frozen=True, slots=True)
class SafetensorsHeader:
    """The parsed header: free-form string metadata and tensor entries in data order."""

    metadata: Mapping[str, str]
    tensors: tuple[SafetensorInfo, ...]


@dataclass(frozen=True, slots=True)
class SafetensorsFile:
    """A validated safetensors file; tensor data stays on disk until viewed."""

    path: Path
    file_size: int
    data_offset: int
    metadata: Mapping[str, str]
    tensors: tuple[SafetensorInfo, ...]
    _by_name: Mapping[str, SafetensorInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({t.name: t for t in self.tensors}))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def tensor(self, name: str) -> SafetensorInfo:
        try:
            return self._by_name[name]
        except KeyError as e:
            raise UsageError(f"{self.path.name} has no tensor named {name!r}.") from e

    def view(self, name: str) -> np.ndarray:
        """Zero-copy read-only view with the tensor's shape; BF16 and F8 come back as raw bits."""
        info = self.tensor(name)
        raw = memmap_bytes(self.path, self.data_offset + info.start, info.nbytes)
        return raw.view(np.dtype(DTYPES[info.dtype].numpy)).reshape(info.shape)

    def to_float32(self, name: str) -> np.ndarray:
        """The tensor as float32 (a copy unless it already is F32)."""
        return to_float32(self.view(name), self.tensor(name).dtype)


def widen_bf16(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) to float32: bfloat16 is the top half of a float32, so shift."""
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _e4m3_table() -> np.ndarray:
    """All 256 F8_E4M3 (the 'fn' variant: no infinities, NaN at S.1111.111) values as float32."""
    codes = np.arange(256, dtype=np.uint32)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exp = (codes >> 3) & 0xF
    man = (codes & 0x7).astype(np.float64)
    mag = np.where(exp == 0, man / 8 * 2.0**-6, (1 + man / 8) * 2.0 ** (exp.astype(np.float64) - 7))
    mag = np.where((exp == 0xF) & (man == 7), np.nan, mag)
    return (sign * mag).astype(np.float32)


_E4M3 = _e4m3_table()


def to_float32(arr: np.ndarray, dtype: str) -> np.ndarray:
    """Widen a view returned by ``view`` (raw bits for BF16/F8) to float32 values."""
    if dtype == "F32":
        return arr
    if dtype == "BF16":
        return widen_bf16(arr)
    if dtype == "F8_E5M2":  # the top byte of a float16
        return (arr.astype(np.uint16) << np.uint16(8)).view(np.float16).astype(np.float32)
    if dtype == "F8_E4M3":
        return _E4M3[arr]
    return arr.astype(np.float32)


def read_safetensors(path: Path | str) -> SafetensorsFile:
    """Read and validate a safetensors file's header.

    Raises:
        CorruptInputError: the header is damaged, lies about sizes, or does not cover the data exactly.
        UnsupportedInputError: a valid file with a dtype Quantpick does not read (F64, U32, ...).
        UsageError: the path does not name a readable file.
    """
    path = Path(path)
    size = file_size(path)
    fail = _failer(path.name)
    if size < 8:
        raise fail(f"it is only {size} bytes long, shorter than the 8-byte header length")
    n = int.from_bytes(head(path, 8), "little")
    if n > MAX_HEADER_BYTES:
        raise fail(f"its header claims {n} bytes, more than the {MAX_HEADER_BYTES:,}-byte limit")
    if n > size - 8:
        raise fail(f"its header claims {n} bytes, but only {size - 8} bytes follow")
    raw = head(path, 8 + n)[8:]
    if len(raw) != n:
        raise fail("the file shrank while it was being read")
    header = parse_header(raw, size - 8 - n, source=path.name)
    return SafetensorsFile(path, size, 8 + n, header.metadata, header.tensors)


def parse_header(raw: bytes, data_len: int, *, source: str) -> SafetensorsHeader:
    """Validate header bytes against a data section of ``data_len`` bytes (file or HTTP range alike)."""
    fail = _failer(source)
    obj = _load_json_object(raw, fail)
    metadata = _metadata(obj.pop("__metadata__", {}), fail)
    tensors = [_entry(name, value, fail) for name, value in obj.items()]
    tensors.sort(key=lambda t: (t.start, t.end))
    pos = 0
    for t in tensors:
        if t.start != pos:
            gap = "overlaps the tensor before it" if t.start < pos else f"leaves a gap at byte {pos}"
            raise fail(f"tensor {t.name} starts at byte {t.start} and {gap}")
        pos = t.end
    if pos != data_len:
        raise fail(f"the tensors cover {pos} bytes of data, but the file holds {data_len}")
    return SafetensorsHeader(MappingProxyType(metadata), tuple(tensors))


def _failer(source: str) -> Any:
    def fail(detail: str) -> CorruptInputError:
        return CorruptInputError(f"{source} is not a valid safetensors file: {detail}.")
    return fail


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_strict_json(raw: bytes | str) -> Any:
    """JSON without duplicate keys, NaN or Infinity; raises ValueError (or RecursionError) when invalid."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def _load_json_object(raw: bytes, fail: Any) -> dict[str, Any]:
    try:
        obj = load_strict_json(raw)
    except UnicodeDecodeError as e:
        raise fail("its header is not UTF-8 text") from e
    except (ValueError, RecursionError) as e:
        raise fail(f"its header is not valid JSON ({e})") from e
    if not isinstance(obj, dict):
        raise fail(f"its header is a JSON {type(obj).__name__}, not an object")
    return obj


def _metadata(value: Any, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise fail("__metadata__ must map names to strings")
    return dict(value)


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _bounded_count(shape: tuple[int, ...]) -> int:
    """Element count, stopping early once it passes 2**64 so a hostile shape cannot make huge integers."""
    if 0 in shape:
        return 0
    n = 1
    for dim in shape:
        n *= dim
        if n > 1 << 64:
            break
    return n


def _entry(name: str, value: Any, fail: Any) -> SafetensorInfo:
    if not name:
        raise fail("a tensor has an empty name")
    if not isinstance(value, dict) or set(value) != _ENTRY_KEYS:
        raise fail(f"the entry for {name} must have exactly the keys dtype, shape and data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str):
        raise fail(f"tensor {name} has unknown dtype {dtype!r}")
    if dtype not in DTYPES:
        if dtype in UNSUPPORTED_DTYPES:
            raise UnsupportedInputError(
                f"Tensor {name} is stored as {dtype}, which Quantpick does not read.",
                "Look for a version of this model saved in BF16, F16 or F32.",
            )
        raise fail(f"tensor {name} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise fail(f"tensor {name} has shape {shape!r}; a shape is a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        raise fail(f"tensor {name} has data_offsets {offsets!r}; they must be two non-negative integers")
    start, end = offsets
    info = SafetensorInfo(name, dtype, tuple(shape), start, end)
    expected = _bounded_count(info.shape) * DTYPES[dtype].itemsize
    if end < start or end - start != expected:
        raise fail(f"tensor {name} spans bytes {start}..{end}, but {dtype} {list(shape)} needs {expected} bytes")
    return info
