"""Protobuf-aware mutations of a SentencePiece ``tokenizer.model``: lying length varints, overlong
varints, wrong wire types, bad piece types and scores, invalid UTF-8, dropped and repeated pieces."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from tests.fuzz.mutate import Sample, mutate_generic

_MAX_PIECES = 64  # pieces whose inner fields are mapped; the rest are mutated as whole records


def varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True, slots=True)
class Record:
    """One field: where its key varint starts, where its payload starts and ends, its number and wire type."""

    start: int
    body: int
    end: int
    number: int
    wire: int


def records(buf: bytes, base: int = 0, end: int | None = None) -> list[Record]:
    """The fields of one message in ``buf[base:end]`` (a well-formed message)."""
    out = []
    pos, end = base, len(buf) if end is None else end
    while pos < end:
        start = pos
        key, pos = _read_varint(buf, pos)
        wire = key & 7
        if wire == 0:
            _, body_end = _read_varint(buf, pos)
            body = pos
        elif wire == 2:
            n, body = _read_varint(buf, pos)
            body_end = body + n
        else:
            body, body_end = pos, pos + (4 if wire == 5 else 8)
        out.append(Record(start, body, body_end, key >> 3, wire))
        pos = body_end
    return out


def _length_pos(buf: bytes, rec: Record) -> tuple[int, int]:
    """(start, end) of a LENGTH record's length varint."""
    _, after_key = _read_varint(buf, rec.start)
    return after_key, rec.body


def mutate(rng: random.Random, model: bytes, top: list[Record]) -> Sample:
    """One protobuf-aware mutation (80%) or a few format-blind ones."""
    if rng.random() < 0.2:
        return mutate_generic(rng, Sample.of(model))
    pieces = [r for r in top if r.number == 1][:_MAX_PIECES]
    rec = rng.choice(pieces if rng.random() < 0.8 else top)
    inner = records(model, rec.body, rec.end) if rec.wire == 2 and rec.number == 1 else []
    op = rng.randrange(8)
    buf = model
    if op <= 1 and rec.wire == 2:  # a length that lies, or an overlong varint
        a, b = _length_pos(buf, rec)
        n = rec.end - rec.body
        new = rng.choice([n + 1, n - 1, 0, 1 << 31, (1 << 64) - 1, len(buf), n * 2])
        enc = varint(new) if rng.random() < 0.8 else b"\xff" * rng.choice([9, 10, 11, 20]) + b"\x01"
        buf = buf[:a] + enc + buf[b:]
    elif op == 2:  # wrong wire type on the key
        key = (rec.number << 3) | rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
        _, after = _read_varint(buf, rec.start)
        buf = buf[: rec.start] + varint(key) + buf[after:]
    elif op == 3 and inner:  # piece type out of range, or a NaN/inf score
        field = rng.choice(inner)
        if field.number == 3 and field.wire == 0:
            buf = buf[: field.body] + varint(rng.choice([0, 7, 99, (1 << 64) - 1])) + buf[field.end :]
        elif field.number == 2 and field.wire == 5:
            value = struct.pack("<f", rng.choice([float("nan"), float("inf"), -3.4e38]))
            buf = buf[: field.body] + value + buf[field.end :]
    elif op == 4 and inner:  # piece text that is not UTF-8 (same length, so the frame stays valid)
        text = next((f for f in inner if f.number == 1 and f.wire == 2 and f.end > f.body), None)
        if text is not None:
            buf = buf[: text.body] + b"\xff" + buf[text.body + 1 :]
    elif op == 5:  # drop or repeat a whole record
        chunk = buf[rec.start : rec.end]
        buf = buf[: rec.start] + (b"" if rng.random() < 0.5 else chunk * rng.choice([2, 100])) + buf[rec.end :]
    elif op == 6:  # cut inside a record
        buf = buf[: rng.randrange(rec.start, rec.end + 1)]
    else:
        return mutate_generic(rng, Sample.of(model), rounds=rng.randint(1, 4))
    return Sample.of(buf)
