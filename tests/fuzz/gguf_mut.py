"""GGUF-aware mutations: lying lengths and counts, wrong types, bad dims, offsets past the end,
overlapping tensors, real huge strings and arrays, duplicated records.

``walk`` maps a well-formed GGUF header with plain ``struct`` (independent of the reader under test),
recording where every length, count, type, dimension and offset sits, so a mutation can aim at one.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from tests.fuzz.mutate import Sample, interesting, mutate_generic, put_int

STRING, ARRAY = 8, 9
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_MAX_FIELDS_PER_ARRAY = 64  # token lists hold 10^5 strings; a few of their lengths are target enough


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # version, n_tensors, n_kv, str_len, vtype, arr_type, arr_len, scalar, n_dims, dim, ttype, toffset
    pos: int
    width: int
    value: int | float


@dataclass(frozen=True, slots=True)
class Tensor:
    start: int
    end: int
    offset_pos: int
    offset: int
    nbytes: int


@dataclass
class Layout:
    fields: list[Field] = field(default_factory=list)
    kvs: list[tuple[int, int, bytes]] = field(default_factory=list)  # (start, end, key)
    tensors: list[Tensor] = field(default_factory=list)
    kv_end: int = 0
    info_end: int = 0
    data_offset: int = 0
    alignment: int = 32

    def of_kind(self, *kinds: str) -> list[Field]:
        return [f for f in self.fields if f.kind in kinds]


def _nbytes(qtype: int, dims: list[int]) -> int:
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType(qtype)]
    n = 1
    for d in dims:
        n *= d
    return n // block * size


def walk(buf: bytes) -> Layout:
    """Field positions of a well-formed GGUF (raises struct.error on a malformed one)."""
    lay = Layout()
    pos = 4

    def take(kind: str, fmt: str, record: bool = True) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        if record:
            lay.fields.append(Field(kind, pos, struct.calcsize(fmt), value))
        pos += struct.calcsize(fmt)
        return value

    take("version", "<I")
    n_tensors, n_kv = take("n_tensors", "<Q"), take("n_kv", "<Q")
    for _ in range(n_kv):
        start = pos
        n = take("str_len", "<Q")
        key = buf[pos : pos + n]
        pos += n
        vtype = take("vtype", "<i")
        if vtype == STRING:
            n = take("str_len", "<Q")
            pos += n
        elif vtype == ARRAY:
            item, count = take("arr_type", "<i"), take("arr_len", "<Q")
            if item == STRING:
                for i in range(count):
                    n = take("str_len", "<Q", record=i < _MAX_FIELDS_PER_ARRAY)
                    pos += n
            else:
                pos += count * struct.calcsize(_SCALAR[item])
        else:
            value = take("scalar", _SCALAR[vtype])
            if key == b"general.alignment":
                lay.alignment = value
        lay.kvs.append((start, pos, key))
    lay.kv_end = pos
    for _ in range(n_tensors):
        start = pos
        n = take("str_len", "<Q")
        pos += n
        dims = [take("dim", "<q") for _ in range(take("n_dims", "<I"))]
        qtype = take("ttype", "<i")
        offset = take("toffset", "<Q")
        lay.tensors.append(Tensor(start, pos, pos - 8, offset, _nbytes(qtype, dims)))
    lay.info_end = pos
    lay.data_offset = pos + (-pos % lay.alignment)
    return lay


# -- mutations: each takes (rng, buf, layout, size) and returns the new size ------------------------
def lie_length(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    f = rng.choice(lay.of_kind("str_len"))
    remaining = size - f.pos - 8
    put_int(buf, f.pos, 8, rng.choice([interesting(rng, 8, int(f.value)), remaining, remaining + 1, 1 << 30]))
    return size


def lie_count(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    f = rng.choice(lay.of_kind("n_tensors", "n_kv", "arr_len"))
    put_int(buf, f.pos, 8, interesting(rng, 8, int(f.value)))
    return size


def wrong_type(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    f = rng.choice(lay.of_kind("vtype", "arr_type", "ttype", "version"))
    if f.kind == "ttype":
        value = rng.choice([*range(0, 42), 4, 5, 255, 256, 1000, -1, (1 << 31) - 1, -(1 << 31)])
    else:
        value = rng.choice([*range(-1, 15), 255, 0x0300, 0x03000000, (1 << 31) - 1, -(1 << 31)])
    put_int(buf, f.pos, 4, value)
    return size


def bad_dims(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    f = rng.choice(lay.of_kind("dim", "n_dims"))
    if f.kind == "n_dims":
        put_int(buf, f.pos, 4, rng.choice([0, int(f.value) + 1, int(f.value) - 1, 5, 64, (1 << 32) - 1]))
    else:
        value = int(f.value)
        put_int(buf, f.pos, 8, rng.choice([0, -1, value * 2, value + 1, 1 << 31, 1 << 62, (1 << 63) - 1, -value]))
    return size


def bad_offset(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    if not lay.tensors:
        return size
    t = rng.choice(lay.tensors)
    data_len = size - lay.data_offset
    past = data_len + (-data_len % lay.alignment)
    other = rng.choice(lay.tensors)
    choices = [past, past + lay.alignment, max(0, past - lay.alignment), (1 << 64) - lay.alignment, 1 << 63,
               other.offset, other.offset + lay.alignment, t.offset + 1, (1 << 64) - 1]
    put_int(buf, t.offset_pos, 8, rng.choice(choices))
    return size


def overlap(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    """Point one tensor into another's bytes, as a hostile file sharing data between tensors would."""
    if len(lay.tensors) < 2:
        return bad_offset(rng, buf, lay, size)
    a, b = rng.sample(lay.tensors, 2)
    shift = rng.choice([0, lay.alignment, b.nbytes - lay.alignment if b.nbytes > lay.alignment else 0])
    put_int(buf, a.offset_pos, 8, b.offset + max(0, shift))
    return size


def truncate_data(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    """Cut the file inside the tensor data (or the header), so some tensor runs past the end."""
    return rng.choice([rng.randrange(lay.data_offset, size) if size > lay.data_offset else size,
                       rng.randrange(max(1, lay.info_end)), lay.data_offset, size - 1])


def _insert_kv(buf: bytearray, lay: Layout, record: bytes, aligned: bool) -> int:
    pad = -len(record) % lay.alignment
    if aligned and pad:  # keep the data where it was relative to the alignment: lengthen the key
        record = _pad_record(record, pad)
    buf[lay.kv_end : lay.kv_end] = record
    n_kv = lay.of_kind("n_kv")[0]
    put_int(buf, n_kv.pos, 8, int(n_kv.value) + 1)
    return len(record)


def _pad_record(record: bytes, pad: int) -> bytes:
    """Lengthen a KV record by ``pad`` bytes by growing its key, which no reader interprets."""
    key_len = struct.unpack_from("<Q", record)[0]
    return struct.pack("<Q", key_len + pad) + record[8 : 8 + key_len] + b"x" * pad + record[8 + key_len :]


def huge_value(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    """A real (not lying) huge string, key, numeric array or string array of a few megabytes."""
    kind = rng.randrange(4)
    n = rng.choice([1 << 16, 1 << 20, 3 << 20])
    if kind == 0:
        value = struct.pack("<iQ", STRING, n) + b"a" * n
        key = b"fuzz.huge_string"
    elif kind == 1:
        value = struct.pack("<iQ", STRING, 1) + b"v"
        key = b"k" * rng.choice([256, 1 << 16, 1 << 20])
    elif kind == 2:
        item = rng.choice([0, 4, 6, 10])
        count = n // struct.calcsize(_SCALAR[item])
        value = struct.pack("<iiQ", ARRAY, item, count) + bytes(count * struct.calcsize(_SCALAR[item]))
        key = b"fuzz.huge_array"
    else:
        count = n // 10
        value = struct.pack("<iiQ", ARRAY, STRING, count) + (struct.pack("<Q", 2) + b"ab") * count
        key = b"fuzz.huge_strings"
    record = struct.pack("<Q", len(key)) + key + value
    return size + _insert_kv(buf, lay, record, aligned=rng.random() < 0.7)


def duplicate_record(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    """Repeat a KV or a tensor info (and bump its count): duplicate keys, names and data."""
    if lay.tensors and rng.random() < 0.5:
        t = rng.choice(lay.tensors)
        record = bytes(buf[t.start : t.end])
        buf[lay.info_end : lay.info_end] = record
        n = lay.of_kind("n_tensors")[0]
        put_int(buf, n.pos, 8, int(n.value) + 1)
        return size + len(record)
    start, end, _ = rng.choice(lay.kvs)
    return size + _insert_kv(buf, lay, bytes(buf[start:end]), aligned=rng.random() < 0.5)


def long_name(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    """A tensor name past GGUF's 63 bytes, or empty, or not UTF-8."""
    if not lay.tensors:
        return size
    t = rng.choice(lay.tensors)
    old_len = struct.unpack_from("<Q", buf, t.start)[0]
    name = rng.choice([b"n" * 64, b"n" * rng.randint(65, 5000), b"", b"\xff\xfe", "é".encode() * 40])
    buf[t.start : t.start + 8 + old_len] = struct.pack("<Q", len(name)) + name
    return size + len(name) - old_len


def bad_alignment(rng: random.Random, buf: bytearray, lay: Layout, size: int) -> int:
    for start, _, key in lay.kvs:
        if key == b"general.alignment":
            pos = start + 8 + len(key) + 4
            put_int(buf, pos, 4, rng.choice([0, 1, 3, 24, 48, 1 << 31, (1 << 32) - 1, 1 << 20]))
            return size
    record = struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<iI", 4, rng.choice([0, 3, 64, 1 << 31]))
    return size + _insert_kv(buf, lay, record, aligned=False)


STRUCT_OPS = (lie_length, lie_count, wrong_type, bad_dims, bad_offset, overlap, truncate_data, huge_value,
              duplicate_record, long_name, bad_alignment)
STRUCT_WEIGHTS = (6, 4, 4, 4, 4, 3, 3, 1, 2, 1, 1)


def mutate(rng: random.Random, sample: Sample, lay: Layout) -> Sample:
    """One structural mutation, then sometimes a few format-blind ones on the header bytes."""
    buf = bytearray(sample.head)
    size = sample.size
    if rng.random() < 0.8:
        op = rng.choices(STRUCT_OPS, STRUCT_WEIGHTS)[0]
        size = op(rng, buf, lay, size)
        if rng.random() < 0.3:
            return mutate_generic(rng, Sample(bytes(buf), size), limit=lay.data_offset)
        return Sample(bytes(buf), max(0, size))
    return mutate_generic(rng, sample, limit=lay.data_offset if rng.random() < 0.8 else None)
