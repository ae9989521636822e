"""Importance-matrix inputs: the golden GGUF imatrix with damaged values, and a legacy ``.dat`` built
from the same numbers with lying entry counts, name lengths, value counts and trailers."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

import numpy as np

from tests.fuzz.mutate import Sample, interesting, mutate_generic, put_int


@dataclass
class Dat:
    """A legacy imatrix stream and where each number sits (kind, position)."""

    data: bytes
    fields: list[tuple[str, int]] = field(default_factory=list)
    values: list[tuple[int, int]] = field(default_factory=list)  # (position, count) of each value block


def build_dat(entries: dict[str, np.ndarray], calls: int, chunks: int, dataset: bytes) -> Dat:
    """llama-imatrix's legacy layout: count, then per entry name/ncall/nval/values, then the trailer."""
    out = bytearray(struct.pack("<i", len(entries)))
    dat = Dat(b"", [("n_entries", 0)])
    for name, values in entries.items():
        raw = name.encode()
        dat.fields.append(("name_len", len(out)))
        out += struct.pack("<i", len(raw)) + raw
        dat.fields += [("ncall", len(out)), ("nval", len(out) + 4)]
        out += struct.pack("<ii", calls, values.size)
        dat.values.append((len(out), values.size))
        out += values.astype("<f4").tobytes()
    dat.fields += [("chunks", len(out)), ("dataset_len", len(out) + 4)]
    out += struct.pack("<ii", chunks, len(dataset)) + dataset
    dat.data = bytes(out)
    return dat


def mutate_dat(rng: random.Random, dat: Dat) -> Sample:
    buf = bytearray(dat.data)
    op = rng.randrange(5)
    if op <= 1:  # a count or length that lies (signed: negative values too)
        _, pos = rng.choice(dat.fields)
        value = struct.unpack_from("<i", buf, pos)[0]
        put_int(buf, pos, 4, rng.choice([interesting(rng, 4, value), -1, -(1 << 31), value + 1, value - 1, 0]))
        return Sample.of(bytes(buf))
    if op == 2:  # NaN, inf or huge values
        pos, count = rng.choice(dat.values)
        at = pos + 4 * rng.randrange(count)
        struct.pack_into("<f", buf, at, rng.choice([float("nan"), float("inf"), -float("inf"), 3.4e38]))
        return Sample.of(bytes(buf))
    if op == 3:  # trailing bytes, or a cut
        if rng.random() < 0.5:
            return Sample.of(bytes(buf) + rng.randbytes(rng.randint(1, 16)))
        return Sample.of(bytes(buf[: rng.randrange(len(buf))]))
    return mutate_generic(rng, Sample.of(bytes(buf)))


def damage_gguf_values(rng: random.Random, sample: Sample, data_offset: int) -> Sample:
    """Write NaN, inf or a negative number over float32 values in the data section (sums or counts)."""
    buf = bytearray(sample.head)
    n_values = (len(buf) - data_offset) // 4
    for _ in range(rng.randint(1, 3)):
        if n_values > 0:
            at = data_offset + 4 * rng.randrange(n_values)
            value = rng.choice([float("nan"), float("inf"), -float("inf"), -1.0, -1e30, 3.4e38, 1e-45])
            struct.pack_into("<f", buf, at, value)
    return Sample(bytes(buf), sample.size)
