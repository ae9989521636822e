"""Metadata building: gguf-py's writer as an in-memory key/value list, and the ``general.*`` keys.

``gguf.GGUFWriter`` (never given a file) supplies the converter's exact key names, value types and
ordering rules (a key set twice keeps its first position); its key list is then turned into our typed
``MetaValue`` pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from math import prod
from pathlib import Path
from typing import Any

import gguf
from gguf import GGUFValueType, GGUFWriter

from engine.convert.hf.jsonfile import read_json
from engine.convert.source import SourceTensor
from engine.formats.gguf_write import MetaValue

# gguf-py logs a warning when a key is set again; the converter does that on purpose (Gemma 3, Llama).
_QUIET_LOGGERS = ("gguf.gguf_writer", "metadata")


class _Drop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def quiet_gguf() -> Iterator[None]:
    """Silence gguf-py's informational warnings while metadata is built."""
    drop = _Drop()
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    for lg in loggers:
        lg.addFilter(drop)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(drop)


def to_meta(writer: GGUFWriter) -> tuple[tuple[str, MetaValue], ...]:
    """The writer's keys and values, in order, as typed ``MetaValue`` pairs."""
    pairs = []
    for key, val in writer.kv_data[0].items():
        value: Any = val.value
        if val.type == GGUFValueType.ARRAY:
            items = list(value)
            item_type = val.sub_type or (GGUFValueType.get_type(items[0]) if items else GGUFValueType.INT32)
            pairs.append((key, MetaValue(GGUFValueType.ARRAY, items, item_type)))
        else:
            plain = int(value) if isinstance(value, int) and not isinstance(value, bool) else value
            pairs.append((key, MetaValue(val.type, plain)))
    return tuple(pairs)


def add_general(writer: GGUFWriter, folder: Path, tensors: Sequence[SourceTensor]) -> gguf.Metadata:
    """``general.type``, sampling defaults, name, size label and model-card keys, in the converter's order.

    The names come from gguf-py's model-card and folder-name heuristics, as in the converter.
    """
    total = sum(prod(t.shape) for t in tensors)
    meta = gguf.Metadata.load(None, folder, None, total)
    generation = read_json(folder / "generation_config.json") or {}
    if "penalty_repeat" not in generation and "repetition_penalty" in generation:
        meta.sampling_penalty_repeat = generation["repetition_penalty"]
    if meta.name is None:
        meta.name = folder.name
    if meta.size_label is None and total > 0:
        meta.size_label = gguf.size_label(total, total, 0, 0)
    writer.add_type(gguf.GGUFType.MODEL)
    meta.set_gguf_meta_model(writer)
    return meta
