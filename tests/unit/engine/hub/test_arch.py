"""ArchDims.from_config across the config.json layouts of common families, and parameter estimates."""

from __future__ import annotations

import pytest

from engine.errors import UnsupportedInputError
from engine.hub.arch import ArchDims

QWEN25_7B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
    "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
    "max_position_embeddings": 32768, "sliding_window": 131072, "use_sliding_window": False,
    "tie_word_embeddings": False,
}
GEMMA3_4B = {  # the multimodal config lists only what differs from Gemma3TextConfig's defaults
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                    "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "vision_config": {"hidden_size": 1152, "model_type": "siglip_vision_model"},
}
GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
    "num_hidden_layers": 24, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
    "num_local_experts": 32, "num_experts_per_tok": 4, "vocab_size": 201088, "max_position_embeddings": 131072,
    "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 12, "attention_bias": True,
    "tie_word_embeddings": False,
}
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
    "intermediate_size": 6144, "moe_intermediate_size": 768, "num_hidden_layers": 48, "num_attention_heads": 32,
    "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8,
    "vocab_size": 151936, "max_position_embeddings": 40960, "tie_word_embeddings": False,
}


def test_qwen2_has_qkv_bias_and_no_sliding_window_in_llama_cpp() -> None:
    d = ArchDims.from_config(QWEN25_7B)
    assert (d.n_layer, d.n_embd, d.n_head, d.n_head_kv, d.head_dim) == (28, 3584, 28, 4, 128)
    assert d.qkv_bias and not d.tied_embeddings
    assert (d.n_swa, d.swa_pattern, d.n_swa_layers) == (0, 0, 0)
    assert d.estimate_params() == 7_615_616_512  # the published safetensors count


def test_gemma3_multimodal_text_config_falls_back_to_the_class_defaults() -> None:
    d = ArchDims.from_config(GEMMA3_4B)
    assert (d.n_layer, d.n_embd, d.n_head, d.n_head_kv, d.head_dim, d.n_vocab) == (34, 2560, 8, 4, 256, 262208)
    assert (d.n_ctx_train, d.n_swa, d.swa_pattern) == (131072, 1024, 6)
    assert d.tied_embeddings
    assert d.n_swa_layers == 34 - 5  # layers 5, 11, 17, 23, 29 attend globally


def test_gpt_oss_reads_experts_and_the_layer_type_pattern() -> None:
    d = ArchDims.from_config(GPT_OSS_20B)
    assert (d.n_expert, d.n_expert_used, d.n_ff_exp) == (32, 4, 2880)
    assert (d.n_swa, d.swa_pattern, d.n_swa_layers) == (128, 2, 12)
    assert d.n_embd_k_gqa == 8 * 64
    assert 20.8e9 < d.estimate_params() < 21.0e9


def test_moe_active_parameters_count_only_routed_experts() -> None:
    d = ArchDims.from_config(QWEN3_30B_A3B)
    assert (d.n_expert, d.n_expert_used, d.n_ff_exp) == (128, 8, 768)
    assert abs(d.estimate_params() / 30.5e9 - 1) < 0.01
    assert abs(d.estimate_active_params() / 3.3e9 - 1) < 0.03
    dense = ArchDims.from_config(QWEN25_7B)
    assert dense.estimate_active_params() == dense.estimate_params()


def test_head_dim_defaults_to_width_over_heads() -> None:
    config = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
              "vocab_size": 32000, "intermediate_size": 11008}
    d = ArchDims.from_config(config)
    assert d.head_dim == 128 and d.n_head_kv == 32  # no num_key_value_heads: multi-head attention


def test_a_config_without_transformer_fields_is_refused_in_plain_words() -> None:
    with pytest.raises(UnsupportedInputError, match="config.json"):
        ArchDims.from_config({"model_type": "whisper", "d_model": 512})


def test_json_round_trip_and_unknown_fields() -> None:
    d = ArchDims.from_config(GPT_OSS_20B)
    assert ArchDims.from_json(d.to_json()) == d
    with pytest.raises(ValueError, match="n_layers"):
        ArchDims.from_json({**d.to_json(), "n_layers": 3})
