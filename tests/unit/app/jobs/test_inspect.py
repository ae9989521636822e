"""What a drop is: detection, refusals in the engine's words, and the types each source may take."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.jobs.inspect import allowed_types, conversion_target, inspect_path, summary_lines
from engine.quant.ftypes import FILE_TYPES
from tests.conftest import GOLDEN

HF_TINY = GOLDEN / "convert" / "hf-tiny-llama-spm"
F32 = GOLDEN / "requant" / "synth-a-f32.gguf"
Q4 = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"


@pytest.mark.parametrize("dropped", [HF_TINY, HF_TINY / "config.json", HF_TINY / "model.safetensors"])
def test_files_of_a_model_folder_mean_the_folder(dropped: Path) -> None:
    assert conversion_target(dropped) == HF_TINY
    item = inspect_path(dropped)
    assert item.path == HF_TINY and item.convertible and item.failure is None
    assert item.summary is not None and item.summary.kind == "hf-folder"


def test_unquantized_gguf_takes_every_type() -> None:
    item = inspect_path(F32)
    assert item.convertible and not item.note
    assert allowed_types(item, FILE_TYPES) == FILE_TYPES
    lines = summary_lines(item.summary)
    assert lines[0] == "GGUF v3" and "architecture llama" in lines and "stored as F32" in lines


def test_quantized_gguf_only_widens() -> None:
    item = inspect_path(Q4)
    assert item.convertible and "Already quantized (Q4_K_M)" in item.note
    assert [ft.name for ft in allowed_types(item, FILE_TYPES)] == ["F16", "BF16", "F32"]


def test_pickles_and_nothing_are_refused(tmp_path: Path) -> None:
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"PK\x03\x04rest")
    item = inspect_path(pickled)
    assert not item.convertible and item.failure is not None
    assert "pickled PyTorch checkpoint" in item.failure.message and "safetensors" in item.failure.hint
    assert allowed_types(item, FILE_TYPES) == ()
    missing = inspect_path(tmp_path / "nope.gguf")
    assert missing.failure is not None and "There is nothing at" in missing.failure.message


def test_loose_safetensors_needs_its_folder(tmp_path: Path) -> None:
    loose = tmp_path / "model.safetensors"
    loose.write_bytes((HF_TINY / "model.safetensors").read_bytes())
    item = inspect_path(loose)
    assert not item.convertible and item.summary is not None
    assert item.failure is not None and "config.json" in item.failure.message
