"""Resolving what the user names: GGUF file, model folder, catalog id."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import CorruptInputError, UsageError
from engine.recommend.source import from_catalog, load_catalog_entries, resolve
from tests.conftest import GOLDEN


def test_gguf_file() -> None:
    d = resolve(str(GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"))
    assert d.source == "gguf" and d.file_type is not None and d.file_type.name == "Q4_K_M"
    assert d.tensors


def test_folder_and_catalog() -> None:
    folder = resolve(str(GOLDEN / "convert" / "hf-tiny-llama-bpe"))
    assert folder.source == "hf" and folder.tied_embeddings and folder.n_layer == 2
    entry = resolve("qwen/qwen3-8b")  # ids compare case-insensitively
    assert entry.source == "catalog" and entry.arch == "qwen3" and entry.tensors


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="catalog"):
        from_catalog("nobody/nothing")
    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"x")
    with pytest.raises(UsageError, match="not a GGUF"):
        resolve(str(not_gguf))


def test_broken_catalog(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text("{}")
    with pytest.raises(CorruptInputError):
        load_catalog_entries(bad)
