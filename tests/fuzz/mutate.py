"""Format-blind mutations: bit flips, interesting integers, cuts, splices, truncation and growth.

A ``Sample`` is the file a parser will see: ``head`` (the bytes that matter) followed by zeros up to
``size``. Header parsers never read tensor data, so a multi-megabyte golden file fuzzes as its header
plus a sparse tail, which costs nothing to write.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

# Values that break length and count arithmetic: zero, one, off-by-one around powers of two, the
# limits of signed and unsigned 32/64-bit integers, and llama.cpp's 1 GiB string/array limit.
INTERESTING = sorted({
    0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256, 1023, 1024, 4095, 4096,
    65535, 65536, (1 << 20), (1 << 30) - 1, 1 << 30, (1 << 30) + 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1,
    1 << 32, (1 << 32) + 1, 1 << 48, 1 << 53, (1 << 62), (1 << 63) - 1, 1 << 63, (1 << 64) - 2, (1 << 64) - 1,
})
_FORMATS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


@dataclass(frozen=True, slots=True)
class Sample:
    """A fuzz input file: ``head`` then zeros up to ``size`` (``size`` may cut into ``head``)."""

    head: bytes
    size: int

    @classmethod
    def of(cls, data: bytes) -> Sample:
        return cls(data, len(data))

    def write(self, path: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(self.head[: self.size])
            if self.size > len(self.head):
                fh.truncate(self.size)  # a sparse tail of zeros


def interesting(rng: random.Random, width: int, near: int | None = None) -> int:
    """An interesting unsigned value of ``width`` bytes, sometimes a small step away from ``near``."""
    mask = (1 << (8 * width)) - 1
    if near is not None and rng.random() < 0.4:
        return (near + rng.choice([-2, -1, 1, 2, 3, 8, 32, near, -near])) & mask
    if rng.random() < 0.15:
        return rng.getrandbits(8 * width)
    return rng.choice(INTERESTING) & mask


def put_int(buf: bytearray, pos: int, width: int, value: int) -> None:
    if 0 <= pos and pos + width <= len(buf):
        struct.pack_into(_FORMATS[width], buf, pos, value & ((1 << (8 * width)) - 1))


def flip_bits(rng: random.Random, buf: bytearray, size: int) -> int:
    for _ in range(rng.randint(1, 8)):
        if buf:
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
    return size


def set_bytes(rng: random.Random, buf: bytearray, size: int) -> int:
    for _ in range(rng.randint(1, 4)):
        if buf:
            buf[rng.randrange(len(buf))] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)])
    return size


def random_int(rng: random.Random, buf: bytearray, size: int) -> int:
    width = rng.choice([1, 2, 4, 8])
    if len(buf) > width:
        put_int(buf, rng.randrange(len(buf) - width), width, interesting(rng, width))
    return size


def cut(rng: random.Random, buf: bytearray, size: int) -> int:
    if len(buf) < 2:
        return size
    start = rng.randrange(len(buf))
    n = min(len(buf) - start, rng.choice([1, 2, 4, 8, rng.randint(1, 256)]))
    del buf[start : start + n]
    return max(0, size - n)


def insert(rng: random.Random, buf: bytearray, size: int) -> int:
    pos = rng.randrange(len(buf) + 1)
    if buf and rng.random() < 0.5:  # splice a copy of another region
        start = rng.randrange(len(buf))
        chunk = bytes(buf[start : start + rng.randint(1, 512)])
    else:
        chunk = rng.randbytes(rng.choice([1, 4, 8, rng.randint(1, 256)]))
    buf[pos:pos] = chunk
    return size + len(chunk)


def truncate(rng: random.Random, buf: bytearray, size: int) -> int:
    """Cut the file short: anywhere, or just before its end."""
    if size == 0:
        return 0
    return rng.choice([rng.randrange(size), max(0, size - rng.randint(1, 64)), min(size, len(buf))])


def grow(rng: random.Random, buf: bytearray, size: int) -> int:
    return size + rng.choice([1, 8, 31, 32, 4096, rng.randint(1, 1 << 16)])


GENERIC_OPS = (flip_bits, set_bytes, random_int, cut, insert, truncate, grow)
GENERIC_WEIGHTS = (5, 3, 4, 2, 2, 2, 1)


def mutate_generic(rng: random.Random, sample: Sample, *, limit: int | None = None, rounds: int = 0) -> Sample:
    """Apply 1-3 random generic operations, touching only the first ``limit`` bytes of the head."""
    head = bytearray(sample.head)
    keep = b""
    if limit is not None and limit < len(head):
        head, keep = head[:limit], bytes(head[limit:])
    size = sample.size
    for op in rng.choices(GENERIC_OPS, GENERIC_WEIGHTS, k=rounds or rng.randint(1, 3)):
        size = op(rng, head, size)
    head += keep  # cuts and inserts already moved ``size`` by what they removed or added
    return Sample(bytes(head), max(0, size))
