"""Model descriptions from GGUF metadata, config.json and catalog dims."""

from __future__ import annotations

import pytest

from engine.errors import CorruptInputError, UnsupportedArchitectureError
from engine.recommend.model import from_catalog_dims, from_gguf_metadata, from_hf_config, swa_layers
from tests.unit.engine.recommend.helpers import tiny


def _meta(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "general.architecture": "gemma3", "gemma3.block_count": 12, "gemma3.embedding_length": 640,
        "gemma3.attention.head_count": 4, "gemma3.attention.head_count_kv": 1, "gemma3.attention.key_length": 256,
        "gemma3.attention.value_length": 256, "gemma3.feed_forward_length": 2048, "gemma3.context_length": 32768,
        "gemma3.attention.sliding_window": 512, "tokenizer.ggml.tokens": ("a",) * 300, "general.file_type": 15,
    }
    base.update(extra)
    return base


def test_gguf_metadata() -> None:
    d = from_gguf_metadata(_meta(), tiny(tied=True).tensors)
    assert (d.n_layer, d.n_embd, d.head_dim_k, d.n_embd_k_gqa, d.n_vocab) == (12, 640, 256, 256, 300)
    assert d.swa_layers == (True,) * 5 + (False,) + (True,) * 5 + (False,)
    assert d.tied_embeddings and d.file_type is not None and d.file_type.name == "Q4_K_M"


def test_gguf_swa_ignored_where_llama_cpp_ignores_it() -> None:
    meta = {k.replace("gemma3", "phi3"): v for k, v in _meta().items()}
    meta["general.architecture"] = "phi3"
    assert from_gguf_metadata(meta, tiny().tensors).n_swa == 0


def test_gguf_missing_keys() -> None:
    with pytest.raises(CorruptInputError):
        from_gguf_metadata({"general.architecture": "llama"}, [])
    with pytest.raises(CorruptInputError):
        from_gguf_metadata({}, [])


def test_hf_config_llama_and_gemma3_nested() -> None:
    llama = from_hf_config({"model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048,
                            "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 8192,
                            "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": True})
    assert (llama.arch, llama.head_dim_k, llama.n_embd_k_gqa, llama.tied_embeddings) == ("llama", 64, 512, True)
    gemma = from_hf_config({"model_type": "gemma3", "text_config": {
        "hidden_size": 2560, "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4,
        "intermediate_size": 10240, "sliding_window": 1024}})
    assert gemma.arch == "gemma3" and gemma.n_vocab == 262208 and gemma.head_dim_k == 256
    assert sum(gemma.swa_layers) == 34 - 5 and gemma.n_swa == 1024


def test_hf_layer_types_pattern_and_unsupported() -> None:
    cfg = {"model_type": "gemma3_text", "num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 2,
           "vocab_size": 100, "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"] * 2}
    assert from_hf_config(cfg).swa_layers == (True, False, True, False)
    with pytest.raises(UnsupportedArchitectureError):
        from_hf_config({"model_type": "mamba"})
    with pytest.raises(CorruptInputError):
        from_hf_config({"model_type": "llama"})


def test_catalog_dims() -> None:
    d = from_catalog_dims({"n_layer": 4, "n_embd": 64, "n_head": 2, "n_head_kv": 1, "head_dim": 32, "n_ff": 128,
                           "n_vocab": 256, "n_ctx_train": 4096, "n_swa": 16, "swa_pattern": 2}, arch="gemma2",
                          name="x")
    assert d.swa_layers == (True, False, True, False) and d.source == "catalog"
    with pytest.raises(CorruptInputError):
        from_catalog_dims({"n_layer": 1}, arch="llama", name="x")


def test_swa_patterns() -> None:
    assert swa_layers(3, 0, 2) == (False, False, False)
    assert swa_layers(3, 10, [True]) == (True, False, False)
