"""JSON-aware mutations for safetensors headers, config.json and tokenizer files.

A structural mutation picks a node of the parsed document and replaces it with a hostile value of
another type (huge numbers, 1 MB strings, NaN, deep nesting, empty containers), deletes it, or adds a
key; a textual one damages the serialized bytes (duplicate keys, cuts, bad UTF-8, BOM, trailing junk).
"""

from __future__ import annotations

import json
import random
from typing import Any

from tests.fuzz.mutate import Sample, mutate_generic

DEEP = "\x00deep\x00"  # placeholder replaced by a deeply nested array after serialization
HUGE_INT = "\x00hugeint\x00"  # placeholder replaced by an integer with thousands of digits
Path_ = tuple[Any, ...]


def hostile(rng: random.Random) -> Any:
    """A value that is valid JSON (or almost) but rarely what a reader expects."""
    return rng.choice([
        None, True, False, 0, -1, 1, 2**31, 2**63, 2**64, -(2**63), 10**30, 1.5, -0.0, 1e308, -1e308,
        float("nan"), float("inf"), "", "x" * rng.choice([64, 4096, 1 << 20]), "\u0000", "../../etc/passwd",
        "/abs/path.safetensors", "é" * 100, [], {}, [None], {"": ""}, [1, 2, 3], {"type": ["BPE"]},
        DEEP, HUGE_INT, [DEEP], {"a": HUGE_INT},
    ])


def paths(doc: Any, rng: random.Random, limit: int = 400) -> list[Path_]:
    """Up to ``limit`` node paths (keys / indices from the root), sampled across the whole document."""
    out: list[Path_] = []
    stack: list[tuple[Path_, Any]] = [((), doc)]
    seen = 0
    while stack:
        path, node = stack.pop()
        seen += 1
        if len(out) < limit:
            out.append(path)
        elif rng.randrange(seen) < limit:
            out[rng.randrange(limit)] = path
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return out


def _parent(doc: Any, path: Path_) -> tuple[Any, Any]:
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


def structural(rng: random.Random, doc: Any) -> Any:
    """Mutate a deep copy of ``doc`` at one random node; returns the new document."""
    doc = json.loads(json.dumps(doc))
    targets = [p for p in paths(doc, rng) if p]
    if not targets:
        return hostile(rng)
    parent, key = _parent(doc, rng.choice(targets))
    op = rng.randrange(6)
    if op <= 2:
        parent[key] = hostile(rng)
    elif op == 3:
        del parent[key]
    elif op == 4 and isinstance(parent, dict):
        parent[rng.choice(["__metadata__", "", "extra", "x" * 300, str(key) + "_"])] = hostile(rng)
    elif isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        value = parent[key]
        parent[key] = rng.choice([value + 1, value - 1, -value, value * 2, value * 2**32, float(value), str(value)])
    else:
        parent[key] = [parent[key]]
    return doc


def dumps(doc: Any, rng: random.Random) -> bytes:
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    while DEEP in text or json.dumps(DEEP)[1:-1] in text:
        depth = rng.choice([100, 1000, 50_000, 200_000])
        text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth, 1)
    text = text.replace(json.dumps(HUGE_INT), "9" * rng.choice([400, 4301, 20_000]))
    return text.encode("utf-8")


def textual(rng: random.Random, raw: bytes) -> bytes:
    """Damage serialized JSON: duplicate a key, cut it, break its UTF-8, add a BOM or junk, or flip bytes."""
    op = rng.randrange(7)
    if op == 0 and raw.startswith(b"{") and len(raw) > 2:
        first = raw.find(b",")
        if first > 1:  # repeat the first member: a duplicate key
            return raw[:first] + b"," + raw[1:first] + raw[first:]
    if op == 1:
        return raw[: rng.randrange(len(raw) + 1)]
    if op == 2:
        pos = rng.randrange(len(raw) + 1)
        return raw[:pos] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]) + raw[pos:]
    if op == 3:
        return b"\xef\xbb\xbf" + raw
    if op == 4:
        return raw + rng.choice([b" x", b"}", b"]", b"\x00", b" " * 10])
    if op == 5:
        return rng.choice([b"", b"null", b"[]", b"\"text\"", b"1e999", b"NaN", b"{\"a\": Infinity}"])
    return mutate_generic(rng, Sample.of(raw)).head


def mutate_json(rng: random.Random, doc: Any, *, text_share: float = 0.3) -> bytes:
    """Serialized mutant of ``doc``: structural, textual, or both."""
    if rng.random() < 1 - text_share:
        raw = dumps(structural(rng, doc), rng)
        return textual(rng, raw) if rng.random() < 0.1 else raw
    return textual(rng, dumps(doc, rng))
