"""Hyper-parameters as transformers' config classes fill them in, and the converter's rope view."""

from __future__ import annotations

from engine.convert.hf.archs import arch_of, spec_for
from engine.convert.hf.hparams import converter_rope, load_hparams


def test_llama_defaults_fill_head_dim_kv_heads_and_rope() -> None:
    hp = load_hparams({"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2}, "llama")
    assert hp["head_dim"] == 16 and hp["num_key_value_heads"] == 4
    assert hp["rms_norm_eps"] == 1e-6 and hp["max_position_embeddings"] == 2048
    assert hp["rope_parameters"] == {"rope_theta": 10000.0, "rope_type": "default"}
    assert "rope_theta" not in hp


def test_explicit_values_win() -> None:
    hp = load_hparams({"hidden_size": 64, "num_attention_heads": 4, "head_dim": 32, "num_key_value_heads": 1,
                       "rope_theta": 500000.0}, "llama")
    assert (hp["head_dim"], hp["num_key_value_heads"]) == (32, 1)
    assert hp["rope_parameters"]["rope_theta"] == 500000.0


def test_qwen2_has_no_head_dim_but_qwen3_defaults_to_128() -> None:
    assert "head_dim" not in load_hparams({"hidden_size": 64, "num_attention_heads": 4}, "qwen2")
    assert load_hparams({"hidden_size": 64, "num_attention_heads": 4}, "qwen3")["head_dim"] == 128


def test_scaled_rope_gets_original_context() -> None:
    hp = load_hparams({"max_position_embeddings": 32768, "rope_scaling": {"type": "yarn", "factor": 4.0}}, "qwen2")
    assert hp["rope_parameters"] == {"type": "yarn", "factor": 4.0, "rope_theta": 10000.0, "rope_type": "yarn",
                                     "original_max_position_embeddings": 32768}


def test_phi3_rope_su_becomes_longrope_and_the_converter_adds_original_context() -> None:
    hp = load_hparams({"rope_scaling": {"type": "su", "long_factor": [1.0], "short_factor": [1.0]},
                       "original_max_position_embeddings": 4096, "max_position_embeddings": 131072}, "phi3")
    assert "original_max_position_embeddings" not in hp["rope_parameters"]  # "su" is renamed after that step
    rope = converter_rope(hp)
    assert rope["rope_type"] == "longrope" and rope["original_max_position_embeddings"] == 4096
    assert rope["partial_rotary_factor"] == 1.0


def test_gemma3_rope_is_nested_by_layer_type() -> None:
    config = {"rope_scaling": {"rope_type": "linear", "factor": 8.0}, "rope_local_base_freq": 5000.0}
    hp = load_hparams(config, "gemma3")
    rope = converter_rope(hp)
    assert rope["full_attention"] == {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0}
    assert rope["sliding_attention"] == {"rope_type": "default", "rope_theta": 5000.0}


def test_text_config_is_merged_to_the_top() -> None:
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
              "text_config": {"hidden_size": 64, "num_hidden_layers": 3}}
    hp = load_hparams(config, "gemma3")
    assert hp["hidden_size"] == 64 and hp["num_hidden_layers"] == 3 and hp["head_dim"] == 256
    assert hp["architectures"] == ["Gemma3ForConditionalGeneration"]


def test_converter_rope_mirrors_loose_keys() -> None:
    rope = converter_rope({"rope_scaling": {"type": "linear", "factor": 2.0}, "rope_theta": 1e4,
                           "partial_rotary_factor": 0.5})
    assert rope == {"type": "linear", "factor": 2.0, "rope_theta": 1e4, "rope_type": "linear",
                    "partial_rotary_factor": 0.5}


def test_spec_lookup_uses_model_type_for_defaults() -> None:
    spec, config_class = spec_for({"architectures": ["LlamaForCausalLM"], "model_type": "mistral"})
    assert (spec.gguf_arch, config_class) == ("llama", "mistral")
    spec, config_class = spec_for({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text"})
    assert (spec.gguf_arch, config_class, spec.truncate_embed) == ("gemma3", "gemma3", True)


def test_text_config_architectures_take_precedence() -> None:
    config = {"architectures": ["SomeVLM"], "text_config": {"architectures": ["Qwen2ForCausalLM"]}}
    assert arch_of(config) == "Qwen2ForCausalLM"
