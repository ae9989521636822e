"""Hugging Face folders built on the fly: config, tokenizer, chat template and weights are read right."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CorruptInputError, PickledCheckpointError, UnsupportedInputError
from engine.formats.hf_folder import read_hf_folder
from tests.conftest import GOLDEN
from tests.unit.engine.formats.builders import safetensors_from_arrays, tiny_llama_tensors, write

SPM_FILES = GOLDEN / "convert" / "hf-tiny-llama-spm"


def make_folder(folder: Path, *, config: dict[str, Any] | None = None, tokenizer: str = "spm") -> Path:
    """config.json from the golden spm checkpoint (or ``config``), its tokenizer files, tiny BF16 weights."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = config if config is not None else json.loads((SPM_FILES / "config.json").read_text())
    write(folder / "config.json", json.dumps(cfg).encode())
    if tokenizer == "spm":
        for name in ("tokenizer.model", "tokenizer_config.json"):
            shutil.copy(SPM_FILES / name, folder / name)
    write(folder / "model.safetensors", safetensors_from_arrays(tiny_llama_tensors()))
    return folder


def test_spm_folder(tmp_path: Path) -> None:
    hf = read_hf_folder(make_folder(tmp_path / "m"))
    assert hf.architecture == "LlamaForCausalLM" and hf.model_type == "llama"
    assert hf.layers == 2 and hf.context_length == 2048
    assert hf.tokenizer_kind == "sentencepiece"
    assert hf.tokenizer_files == ("tokenizer.model", "tokenizer_config.json")
    assert hf.chat_template is False
    assert hf.generation_config is None
    # embed 16x8 + 2 x (q 8x8 + norm 8) + lm_head 16x8, BF16 except the norms
    assert hf.weights.parameters_by_dtype() == {"BF16": 16 * 8 * 2 + 2 * 64, "F32": 16}
    assert hf.size_on_disk == sum(p.stat().st_size for p in (tmp_path / "m").iterdir())


def test_bpe_tokenizer_json_and_chat_template_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m", tokenizer="none")
    write(folder / "tokenizer.json", json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {}}}).encode())
    assert read_hf_folder(folder).tokenizer_kind == "bpe"
    assert read_hf_folder(folder).chat_template is False
    write(folder / "chat_template.jinja", b"{{ messages }}")
    assert read_hf_folder(folder).chat_template is True


@pytest.mark.parametrize("template,expected", [
    ("{% for m in messages %}{{ m }}{% endfor %}", True),
    ([{"name": "default", "template": "{{ x }}"}], True),
    ("", False),
    (None, False),
])
def test_chat_template_in_tokenizer_config(tmp_path: Path, template: Any, expected: bool) -> None:
    folder = make_folder(tmp_path / "m", tokenizer="none")
    write(folder / "tokenizer_config.json", json.dumps({"chat_template": template}).encode())
    assert read_hf_folder(folder).chat_template is expected


def test_unigram_and_vocab_merges_tokenizers(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m", tokenizer="none")
    assert read_hf_folder(folder).tokenizer_kind is None
    write(folder / "vocab.json", b"{}")
    write(folder / "merges.txt", b"#version: 0.2\n")
    assert read_hf_folder(folder).tokenizer_kind == "bpe"
    write(folder / "tokenizer.json", json.dumps({"model": {"type": "Unigram"}}).encode())
    assert read_hf_folder(folder).tokenizer_kind == "unigram"


def test_nested_text_config_and_generation_config(tmp_path: Path) -> None:
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
              "text_config": {"num_hidden_layers": 26, "max_position_embeddings": 131072}}
    folder = make_folder(tmp_path / "m", config=config)
    write(folder / "generation_config.json", json.dumps({"eos_token_id": [1, 106]}).encode())
    hf = read_hf_folder(folder)
    assert hf.architecture == "Gemma3ForConditionalGeneration"
    assert hf.layers == 26 and hf.context_length == 131072
    assert hf.generation_config == {"eos_token_id": [1, 106]}


def test_model_type_when_architectures_missing(tmp_path: Path) -> None:
    hf = read_hf_folder(make_folder(tmp_path / "m", config={"model_type": "qwen2", "n_layer": 3}))
    assert hf.architecture == "qwen2" and hf.layers == 3 and hf.context_length is None


@pytest.mark.parametrize("name,body", [
    ("config.json", b"{not json"), ("config.json", b"[1]"), ("generation_config.json", b"{"),
    ("tokenizer_config.json", b"{\"chat_template\": "), ("tokenizer.json", b"\xff\xfe"),
])
def test_damaged_json_files_are_corrupt(tmp_path: Path, name: str, body: bytes) -> None:
    folder = make_folder(tmp_path / "m", tokenizer="none")
    write(folder / name, body)
    with pytest.raises(CorruptInputError, match=name):
        read_hf_folder(folder)


def test_no_config_is_unsupported(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "config.json").unlink()
    with pytest.raises(UnsupportedInputError, match="no config.json"):
        read_hf_folder(folder)


def test_only_pickled_weights_are_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    write(folder / "pytorch_model.bin", b"\x80\x04not really")
    with pytest.raises(PickledCheckpointError, match="pytorch_model.bin is a pickled PyTorch checkpoint"):
        read_hf_folder(folder)


def test_pickles_beside_safetensors_are_ignored(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    write(folder / "pytorch_model.bin", b"\x80\x04not really")
    assert read_hf_folder(folder).weights.files[0].path.name == "model.safetensors"


def test_no_weights_at_all(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UnsupportedInputError, match="has no model weights"):
        read_hf_folder(folder)
    write(folder / "model-q4.gguf", b"GGUF")
    with pytest.raises(UnsupportedInputError, match="holds GGUF files"):
        read_hf_folder(folder)


def test_unindexed_shards_are_combined(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    tensors = tiny_llama_tensors()
    names = list(tensors)
    write(folder / "a.safetensors", safetensors_from_arrays({n: tensors[n] for n in names[:3]}))
    write(folder / "b.safetensors", safetensors_from_arrays({n: tensors[n] for n in names[3:]}))
    hf = read_hf_folder(folder)
    assert len(hf.weights.files) == 2 and {t.name for t in hf.weights.tensors} == set(names)
