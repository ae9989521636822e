"""``--split-max-size``: llama.cpp's split layout, read back as one model with the same tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.convert.gguf_source import open_gguf_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.convert.split_out import parse_split_size, split_path
from engine.errors import UsageError
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_split import read_gguf_split
from tests.conftest import GOLDEN

SOURCE = GOLDEN / "requant" / "synth-a-f32.gguf"


@pytest.mark.parametrize(("text", "n"), [("4G", 4 * 10**9), ("500M", 500 * 10**6), (" 1g ", 10**9)])
def test_sizes_use_decimal_units(text: str, n: int) -> None:
    assert parse_split_size(text) == n


@pytest.mark.parametrize("text", ["", "4", "4T", "-1G", "0M", "1.5G"])
def test_bad_sizes_are_explained(text: str) -> None:
    with pytest.raises(UsageError, match="split size"):
        parse_split_size(text)


def test_split_path_follows_llama_cpp() -> None:
    assert split_path(Path("/m/x-Q8_0.gguf"), 0, 3) == Path("/m/x-Q8_0-00001-of-00003.gguf")


def test_split_output_holds_the_same_tensors(tmp_path: Path) -> None:
    with open_gguf_source(SOURCE) as source:
        whole = make_plan(source, "Q8_0", output=tmp_path / "whole.gguf")
        execute(whole, source)
        split = make_plan(source, "Q8_0", output=tmp_path / "part.gguf", split_max_bytes=400_000)
        result = execute(split, source)
    parts = sorted(tmp_path.glob("part-*.gguf"))
    assert len(parts) == len(split.parts) > 2
    assert result.output == parts[0]
    assert sum(p.stat().st_size for p in parts) == split.total_bytes
    first, second = read_gguf(parts[0]), read_gguf(parts[1])
    assert list(first.fields)[-3:] == ["split.no", "split.tensors.count", "split.count"]
    assert list(second.fields) == ["split.no", "split.tensors.count", "split.count"]
    joined, ref = read_gguf_split(parts[0]), read_gguf(tmp_path / "whole.gguf")
    assert [t.name for t in joined.tensors] == [t.name for t in ref.tensors]
    for t in ref.tensors:
        assert np.array_equal(joined.raw(t.name), ref.raw(t.name))
