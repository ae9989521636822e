"""What goes wrong is said plainly: unsupported models, missing files, foreign tensors, bad options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.convert.hf import ARCHITECTURES, open_hf_source
from engine.errors import CorruptInputError, UnsupportedArchitectureError, UnsupportedInputError, UsageError
from engine.formats.ggml_types import GGMLType
from tests.unit.engine.convert.hf.checkpoints import SPM_DIR, SPM_VOCAB, base_config, make_checkpoint, write_safetensors


def _folder(tmp_path: Path, **config: object) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(SPM_DIR, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(config)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_unknown_architecture_names_it_and_lists_supported(tmp_path: Path) -> None:
    folder = _folder(tmp_path, architectures=["FalconForCausalLM"])
    with pytest.raises(UnsupportedArchitectureError) as err:
        open_hf_source(folder)
    text = str(err.value)
    assert "FalconForCausalLM" in text
    for arch in ARCHITECTURES:
        assert arch in text


def test_mixtral_is_not_supported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedArchitectureError, match="MixtralForCausalLM"):
        open_hf_source(_folder(tmp_path, architectures=["MixtralForCausalLM"]))


def test_missing_architectures_list(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["architectures"]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsupportedArchitectureError, match="does not name"):
        open_hf_source(folder)


def test_quantized_outtype_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Q8_0"):
        open_hf_source(SPM_DIR, outtype=GGMLType.Q8_0)


def test_foreign_tensor_is_named(tmp_path: Path) -> None:
    extra = {"model.layers.0.self_attn.mystery.weight": np.ones((4, 4))}
    folder = tmp_path / "m"
    make_checkpoint(folder, base_config("LlamaForCausalLM", "llama", SPM_VOCAB), family="llama", tokenizer="spm",
                    extra=extra)
    with pytest.raises(UnsupportedInputError, match="mystery"):
        open_hf_source(folder)


def test_expert_tensors_are_refused(tmp_path: Path) -> None:
    extra = {"model.layers.0.block_sparse_moe.experts.0.w1.weight": np.ones((4, 4))}
    folder = tmp_path / "m"
    make_checkpoint(folder, base_config("LlamaForCausalLM", "llama", SPM_VOCAB), family="llama", tokenizer="spm",
                    extra=extra)
    with pytest.raises(UnsupportedInputError, match="mixture-of-experts"):
        open_hf_source(folder)


def test_integer_weights_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    make_checkpoint(folder, base_config("LlamaForCausalLM", "llama", SPM_VOCAB), family="llama", tokenizer="spm")
    write_safetensors(folder / "model.safetensors", {"model.embed_tokens.weight": ("F32", np.ones((2, 2)))})
    data = (folder / "model.safetensors").read_bytes().replace(b'"F32"', b'"I32"')
    (folder / "model.safetensors").write_bytes(data)
    with pytest.raises(UnsupportedInputError, match="I32"):
        open_hf_source(folder)


def test_gemma2_needs_tokenizer_model(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    make_checkpoint(folder, base_config("Gemma2ForCausalLM", "gemma2", SPM_VOCAB, head_dim=16), family="gemma2",
                    tokenizer="spm")
    (folder / "tokenizer.model").unlink()
    with pytest.raises(UnsupportedInputError, match="tokenizer.model"):
        open_hf_source(folder)


def test_no_tokenizer_at_all(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "tokenizer.model").unlink()
    with pytest.raises(UnsupportedInputError, match="neither tokenizer.model nor tokenizer.json"):
        open_hf_source(folder)


def test_spm_vocabulary_larger_than_config_for_phi3(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    make_checkpoint(folder, base_config("Phi3ForCausalLM", "phi3", 256), family="phi3", tokenizer="spm")
    with pytest.raises(CorruptInputError, match="512 pieces"):
        open_hf_source(folder)


def test_qwen3_reranker_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "Qwen3-Reranker-0.6B"
    make_checkpoint(folder, base_config("Qwen3ForCausalLM", "qwen3", SPM_VOCAB, head_dim=16), family="qwen3",
                    tokenizer="spm")
    with pytest.raises(UnsupportedArchitectureError, match="reranker"):
        open_hf_source(folder)


def test_layer_count_is_required(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_hidden_layers"] = "two"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CorruptInputError, match="layers"):
        open_hf_source(folder)


def test_spm_style_tokenizer_json_without_model_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "tokenizer.model").unlink()
    (folder / "tokenizer.json").write_text(json.dumps(
        {"model": {"type": "BPE", "byte_fallback": True, "vocab": {}, "merges": []}, "decoder": {"type": "Sequence"}}
    ))
    with pytest.raises(UnsupportedInputError, match="tokenizer.model"):
        open_hf_source(folder)
