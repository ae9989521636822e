"""Detection names each input kind, and says clearly what an unreadable input is."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import CorruptInputError, UnsupportedInputError, UsageError
from engine.formats.detect import InputKind, detect
from engine.formats.summary import summarize
from tests.conftest import GOLDEN
from tests.unit.engine.formats.builders import safetensors_from_arrays, tiny_llama_tensors, write


def test_kinds(tmp_path: Path) -> None:
    assert detect(GOLDEN / "requant" / "synth-a-f32.gguf") is InputKind.GGUF
    st = write(tmp_path / "m.safetensors", safetensors_from_arrays(tiny_llama_tensors()))
    assert detect(st) is InputKind.SAFETENSORS
    assert detect(write(tmp_path / "model.safetensors.index.json", b"{}")) is InputKind.SAFETENSORS_INDEX
    write(tmp_path / "config.json", b"{}")
    assert detect(tmp_path) is InputKind.HF_FOLDER
    assert detect(tmp_path / "config.json") is InputKind.HF_FOLDER


def test_gguf_found_by_magic_whatever_the_name(tmp_path: Path) -> None:
    path = write(tmp_path / "model.bin", (GOLDEN / "requant" / "synth-a-f32.gguf").read_bytes())
    assert detect(path) is InputKind.GGUF


def test_gguf_suffix_without_magic_is_corrupt(tmp_path: Path) -> None:
    path = write(tmp_path / "model.gguf", b"<html>Not Found</html>" + b"\0" * 8)
    assert detect(path) is InputKind.GGUF
    with pytest.raises(CorruptInputError, match="instead of b'GGUF'"):
        summarize(path)


def test_nothing_there(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="There is nothing at"):
        detect(tmp_path / "missing.gguf")


def test_unknown_file(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInputError, match="notes.txt is not a checkpoint format"):
        detect(write(tmp_path / "notes.txt", b"hello"))


def test_old_ggml_file(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInputError, match="old GGML format"):
        detect(write(tmp_path / "ggml-model-q4_0.bin", b"tjgg\x01\x00\x00\x00"))


def test_folders_without_config(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedInputError, match="has no model weights"):
        detect(tmp_path)
    write(tmp_path / "model.safetensors", safetensors_from_arrays(tiny_llama_tensors()))
    with pytest.raises(UnsupportedInputError, match="no config.json, so its architecture is unknown"):
        detect(tmp_path)
