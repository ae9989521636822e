"""A minimal, bounds-checked protobuf wire-format reader (enough for SentencePiece model files).

We read ``tokenizer.model`` without the sentencepiece or protobuf packages: the format needs only
varints, length-delimited fields and 32-bit floats, and a hand-written reader lets every damaged file end
in CorruptInputError instead of an unexplained crash.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from engine.errors import CorruptInputError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def _corrupt(what: str) -> CorruptInputError:
    return CorruptInputError(
        f"The tokenizer file is damaged ({what}).",
        "Download tokenizer.model again from the model's page.",
    )


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one varint at ``pos``; returns (value, next position)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise _corrupt("a number runs past the end")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _corrupt("a number is too long")


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field of one message."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
            yield field, wire, value
        elif wire == LENGTH:
            size, pos = read_varint(buf, pos)
            if pos + size > len(buf):
                raise _corrupt("a field runs past the end")
            yield field, wire, buf[pos : pos + size]
            pos += size
        elif wire in (FIXED32, FIXED64):
            width = 4 if wire == FIXED32 else 8
            if pos + width > len(buf):
                raise _corrupt("a field runs past the end")
            yield field, wire, buf[pos : pos + width]
            pos += width
        else:
            raise _corrupt(f"unknown wire type {wire}")


def as_float32(raw: int | bytes) -> float:
    """Interpret a FIXED32 field as a little-endian binary32."""
    if not isinstance(raw, bytes) or len(raw) != 4:
        raise _corrupt("a score is not a 32-bit float")
    return struct.unpack("<f", raw)[0]
