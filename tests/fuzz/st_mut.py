"""Safetensors-aware mutations: offsets that overlap, leave gaps or run past the data, shapes and dtypes
that disagree with the bytes, lying header lengths, thousands of entries, and any JSON damage."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

from tests.fuzz.json_mut import dumps, hostile, mutate_json
from tests.fuzz.mutate import Sample, interesting, mutate_generic

DTYPES = ["F32", "F16", "BF16", "I8", "I16", "I32", "I64", "U8", "BOOL", "F8_E4M3", "F8_E5M2",
          "F64", "U16", "U32", "U64", "C64", "F4", "f32", "", "Q4_K"]


def file_sample(header: bytes, data_len: int, *, prefix: int | None = None) -> Sample:
    """8-byte length, header, then ``data_len`` zero bytes of tensor data (sparse)."""
    n = len(header) if prefix is None else prefix
    head = struct.pack("<Q", n & ((1 << 64) - 1)) + header
    return Sample(head, len(head) + max(0, data_len))


def _tensors(doc: dict[str, Any]) -> list[str]:
    return [k for k, v in doc.items() if k != "__metadata__" and isinstance(v, dict)]


def semantic(rng: random.Random, doc: dict[str, Any], data_len: int) -> tuple[dict[str, Any], int]:
    """One lie about the tensors (returns the new header object and data length)."""
    doc = json.loads(json.dumps(doc))
    names = _tensors(doc)
    name = rng.choice(names)
    entry = doc[name]
    start, end = entry["data_offsets"]
    op = rng.randrange(8)
    if op == 0:  # overlap, gap or overhang
        other = doc[rng.choice(names)]["data_offsets"]
        entry["data_offsets"] = rng.choice([
            [other[0], other[0] + end - start], [start + 2, end + 2], [start - 2, end - 2], [end, start],
            [start, data_len + 4], [data_len, data_len + end - start], [2**64 - 8, 2**64], [start, 2**63],
        ])
    elif op == 1:  # a shape whose byte size disagrees, or is not a shape at all
        shape = entry["shape"]
        entry["shape"] = rng.choice([
            [*shape, 2], shape[:-1], [0], [], [-1, *shape[1:]], [2**32, 2**32], [2**64], [1.5], ["4"],
            [shape[0] * 2, *shape[1:]], [2**31] * 8, [[1]], shape * 20,
        ])
    elif op == 2:
        entry["dtype"] = rng.choice([*DTYPES, 1, None, ["F32"]])
    elif op == 3:  # extra or missing keys
        if rng.random() < 0.5:
            entry[rng.choice(["offsets", "DTYPE", "extra"])] = hostile(rng)
        else:
            del entry[rng.choice(["dtype", "shape", "data_offsets"])]
    elif op == 4:  # thousands of zero-sized tensors at the end: a big but valid header
        for i in range(rng.choice([1000, 5000, 20_000])):
            doc[f"t.{i}"] = {"dtype": "F32", "shape": [0], "data_offsets": [data_len, data_len]}
    elif op == 5:
        doc["__metadata__"] = rng.choice([{"format": 1}, [], "pt", {"a": {"b": "c"}}, {"k": "v" * (1 << 20)}])
    elif op == 6:  # the data section grows or shrinks under the header
        data_len = rng.choice([0, data_len - 1, data_len + 1, data_len // 2, data_len + 4096])
    else:  # a name that is empty, huge or a path
        doc[rng.choice(["", "x" * (1 << 20), "../../x", "\u0000"])] = doc.pop(name)
    return doc, data_len


def mutate(rng: random.Random, doc: dict[str, Any], data_len: int) -> Sample:
    """A damaged safetensors file built from a golden header."""
    r = rng.random()
    if r < 0.5:
        new_doc, new_len = semantic(rng, doc, data_len)
        header = dumps(new_doc, rng)
    elif r < 0.75:
        header, new_len = mutate_json(rng, doc), data_len
    else:  # byte-level damage to the length prefix and header text
        base = file_sample(json.dumps(doc).encode(), data_len)
        return mutate_generic(rng, base, limit=len(base.head))
    prefix = None
    if rng.random() < 0.15:  # the 8-byte length lies
        prefix = rng.choice([interesting(rng, 8, len(header)), len(header) + 1, len(header) - 1, 100_000_001])
    return file_sample(header, new_len, prefix=prefix)
