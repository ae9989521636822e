"""Summaries of every golden GGUF agree with gguf-py; HF folders and safetensors files summarise right."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import gguf
import pytest

from engine.formats.summary import file_type_name, summarize
from tests.conftest import GOLDEN
from tests.unit.engine.formats.builders import safetensors_from_arrays, tiny_llama_tensors, write
from tests.unit.engine.formats.test_hf_folder import make_folder

GOLDEN_GGUFS = sorted(GOLDEN.rglob("*.gguf"))


def _field(reader: gguf.GGUFReader, key: str) -> object:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


@pytest.mark.parametrize("path", GOLDEN_GGUFS, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_gguf_summary_matches_gguf_py(path: Path) -> None:
    s = summarize(path)
    ref = gguf.GGUFReader(path)
    arch = _field(ref, "general.architecture")
    assert s.kind == "gguf" and s.files == 1 and s.size_on_disk == path.stat().st_size
    assert s.architecture == arch
    assert s.tensor_count == len(ref.tensors)
    assert s.parameters == sum(int(t.n_elements) for t in ref.tensors)
    types = Counter(t.tensor_type.name for t in ref.tensors)
    assert {t.name: t.tensors for t in s.types} == dict(types)
    assert sum(t.parameters for t in s.types) == s.parameters
    assert s.layers == (_field(ref, f"{arch}.block_count") if arch else None)
    assert s.context_length == (_field(ref, f"{arch}.context_length") if arch else None)
    ftype = _field(ref, "general.file_type")
    assert s.file_type == (None if ftype is None else gguf.LlamaFileType(ftype).name.split("_", 1)[1])
    assert s.chat_template == (_field(ref, "tokenizer.chat_template") is not None)


def test_known_golden_facts() -> None:
    s = summarize(GOLDEN / "requant" / "synth-a-Q4_K_M.gguf")
    assert (s.architecture, s.layers, s.context_length, s.file_type) == ("llama", 4, 256, "Q4_K_M")
    assert [t.name for t in s.types] == ["Q4_K", "Q6_K", "F32"]
    spm = summarize(GOLDEN / "convert" / "tiny-llama-spm-Q4_K_M.gguf")
    assert spm.tokenizer == "sentencepiece" and spm.chat_template is False and spm.layers == 2
    assert spm.context_length == 2048
    imatrix = summarize(GOLDEN / "imatrix" / "imatrix.gguf")
    assert imatrix.architecture is None and "(imatrix)" in imatrix.description


def test_hf_folder_summary(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    s = summarize(folder)
    assert s.kind == "hf-folder" and s.architecture == "LlamaForCausalLM"
    assert (s.layers, s.context_length, s.tokenizer, s.chat_template) == (2, 2048, "sentencepiece", False)
    assert [(t.name, t.tensors, t.parameters) for t in s.types] == [("BF16", 4, 384), ("F32", 2, 16)]
    assert s.parameters == 400 and s.file_type is None
    assert s.size_on_disk == sum(p.stat().st_size for p in folder.iterdir())


def test_bare_safetensors_summary_says_what_it_lacks(tmp_path: Path) -> None:
    path = write(tmp_path / "w.safetensors", safetensors_from_arrays(tiny_llama_tensors()))
    s = summarize(path)
    assert s.kind == "safetensors" and s.architecture is None and s.layers is None
    assert "weights only" in s.description and s.parameters == 400


def test_index_beside_config_reads_the_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    write(folder / "model.safetensors.index.json",
          json.dumps({"weight_map": {n: "model.safetensors" for n in tiny_llama_tensors()}}).encode())
    assert summarize(folder / "model.safetensors.index.json").kind == "hf-folder"
    (folder / "config.json").unlink()
    s = summarize(folder / "model.safetensors.index.json")
    assert s.kind == "safetensors-index" and s.parameters == 400


def test_to_json_round_trips() -> None:
    s = summarize(GOLDEN / "requant" / "synth-a-Q4_K_M.gguf")
    data = json.loads(s.to_json())
    assert data == s.to_dict()
    assert data["types"][0] == {"name": "Q4_K", "tensors": 25, "parameters": 2064384}


def test_file_type_names() -> None:
    assert file_type_name(15) == "Q4_K_M"
    assert file_type_name(0) == "F32"
    assert file_type_name(32) == "BF16"
    assert file_type_name(999) is None and file_type_name("15") is None
