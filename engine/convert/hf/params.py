"""Architecture metadata (``{arch}.*`` keys), written in the order llama.cpp's converter writes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gguf import GGUFWriter, LlamaFileType, PoolingType, RopeScalingType

from engine.convert.hf.hparams import find
from engine.convert.hf.jsonfile import read_json
from engine.errors import UnsupportedInputError

Params = Mapping[str, Any]
Rope = dict[str, Any]
_CTX = ("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length")
_FF = ("prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim")
_HEADS, _KV_HEADS = ("num_attention_heads", "n_head", "n_heads"), ("num_key_value_heads", "n_kv_heads")
_EXPERTS = ("num_local_experts", "num_experts", "n_routed_experts")
_EXPERTS_USED = ("num_experts_per_tok", "num_experts_per_token", "top_k_experts")


def _optional(writer: GGUFWriter, add: Callable[[Any], None], value: Any) -> None:
    if value is not None:
        add(value)


def _rope_scaling(writer: GGUFWriter, rope: Mapping[str, Any]) -> None:
    kind, factor = rope.get("rope_type"), rope.get("factor")
    if kind == "linear" and factor is not None:
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(factor)
    elif kind == "yarn" and factor is not None:
        writer.add_rope_scaling_type(RopeScalingType.YARN)
        writer.add_rope_scaling_factor(factor)
        writer.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        _optional(writer, writer.add_rope_scaling_yarn_ext_factor, rope.get("extrapolation_factor"))
        attn_factor = rope.get("attention_factor", rope.get("attn_factor"))
        _optional(writer, writer.add_rope_scaling_yarn_attn_factor, attn_factor)
        _optional(writer, writer.add_rope_scaling_yarn_beta_fast, rope.get("beta_fast"))
        _optional(writer, writer.add_rope_scaling_yarn_beta_slow, rope.get("beta_slow"))
    elif kind in ("su", "longrope"):
        writer.add_rope_scaling_type(RopeScalingType.LONGROPE)


def generic(writer: GGUFWriter, hp: Params, rope: Rope, n_layer: int, ftype: LlamaFileType) -> None:
    """The converter's common text-model keys (used as is by Qwen2/Qwen3, extended by Llama and Gemma 3)."""
    writer.add_block_count(n_layer)
    _optional(writer, writer.add_context_length, find(hp, _CTX))
    _optional(writer, writer.add_embedding_length, find(hp, ("hidden_size", "n_embd", "dim")))
    _optional(writer, writer.add_feed_forward_length, find(hp, _FF))
    _optional(writer, writer.add_head_count, find(hp, _HEADS))
    _optional(writer, writer.add_head_count_kv, find(hp, _KV_HEADS))
    if hp.get("is_causal") is False:
        writer.add_causal_attention(False)
    params = rope.get("full_attention", rope)
    _rope_scaling(writer, params)
    if "mrope_section" in rope:
        raise UnsupportedInputError("Models with multi-axis rotary embeddings (mrope) are not supported.")
    _optional(writer, writer.add_rope_freq_base, params.get("rope_theta"))
    _optional(writer, writer.add_rope_freq_base_swa, rope.get("sliding_attention", {}).get("rope_theta"))
    _optional(writer, writer.add_layer_norm_rms_eps, find(hp, ("rms_norm_eps", "norm_eps")))
    _optional(writer, writer.add_layer_norm_eps, find(hp, ("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")))
    _optional(writer, writer.add_expert_count, find(hp, _EXPERTS))
    _optional(writer, writer.add_expert_used_count, find(hp, _EXPERTS_USED))
    if (head_dim := hp.get("head_dim")) is not None:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(ftype)


def _llama(writer: GGUFWriter, hp: Params, rope: Rope, n_layer: int, ftype: LlamaFileType) -> None:
    generic(writer, hp, rope, n_layer, ftype)
    writer.add_vocab_size(hp["vocab_size"])
    rope_dim = hp.get("head_dim")
    if rope_dim is None:
        rope_dim = hp["hidden_size"] // hp["num_attention_heads"]
    writer.add_rope_dimension_count(rope_dim)


def _gemma2(writer: GGUFWriter, hp: Params, rope: Rope, n_layer: int, ftype: LlamaFileType) -> None:
    writer.add_context_length(hp["max_position_embeddings"])
    writer.add_embedding_length(hp["hidden_size"])
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(hp["intermediate_size"])
    writer.add_head_count(hp["num_attention_heads"])
    writer.add_head_count_kv(hp.get("num_key_value_heads", hp["num_attention_heads"]))
    writer.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    writer.add_key_length(hp["head_dim"])
    writer.add_value_length(hp["head_dim"])
    writer.add_file_type(ftype)
    writer.add_attn_logit_softcapping(hp["attn_logit_softcapping"])
    writer.add_final_logit_softcapping(hp["final_logit_softcapping"])
    writer.add_sliding_window(hp["sliding_window"])


def _gemma3(writer: GGUFWriter, hp: Params, rope: Rope, n_layer: int, ftype: LlamaFileType) -> None:
    generic(writer, hp, rope, n_layer, ftype)
    writer.add_context_length(hp.get("max_position_embeddings", 131072))
    writer.add_head_count(hp.get("num_attention_heads", 8))
    writer.add_layer_norm_rms_eps(hp.get("rms_norm_eps", 1e-6))
    writer.add_key_length(hp.get("head_dim", 256))
    writer.add_value_length(hp.get("head_dim", 256))
    writer.add_rope_freq_base(rope.get("full_attention", rope).get("rope_theta", 1_000_000.0))
    if hp.get("attn_logit_softcapping") is not None:
        raise UnsupportedInputError("This Gemma 3 config sets attn_logit_softcapping, which Gemma 3 does not use.")
    if final := hp.get("final_logit_softcapping"):
        writer.add_final_logit_softcapping(final)
    if hp.get("sliding_window_pattern") != 1:
        writer.add_sliding_window(hp["sliding_window"])
    writer.add_head_count_kv(hp.get("num_key_value_heads", 4))


def phi3_rope_dims(hp: Mapping[str, Any], rope: Mapping[str, Any]) -> int:
    n_embd, n_head = find(hp, ("hidden_size", "n_embd")), find(hp, ("num_attention_heads", "n_head"))
    return int(rope.get("partial_rotary_factor", 1.0) * n_embd) // int(n_head)


def _phi3(writer: GGUFWriter, hp: Params, rope: Rope, n_layer: int, ftype: LlamaFileType) -> None:
    writer.add_context_length(find(hp, ("n_positions", "max_position_embeddings")))
    writer.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
    writer.add_embedding_length(find(hp, ("hidden_size", "n_embd")))
    writer.add_feed_forward_length(hp["intermediate_size"])
    writer.add_block_count(n_layer)
    writer.add_head_count(find(hp, ("num_attention_heads", "n_head")))
    writer.add_head_count_kv(find(hp, ("num_key_value_heads", "n_head_kv")))
    writer.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    writer.add_rope_dimension_count(phi3_rope_dims(hp, rope))
    writer.add_rope_freq_base(rope.get("full_attention", rope)["rope_theta"])
    writer.add_file_type(ftype)
    window = hp.get("sliding_window")
    writer.add_sliding_window(0 if window is None else window)


def pooling_type(folder: Path) -> PoolingType | None:
    """An embedding model's pooling, from its sentence-transformers ``modules.json`` (None: not one)."""
    modules = read_json(folder / "modules.json") or []
    path = next((m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling")), None)
    if path is None:
        return None
    pooling = read_json(folder / path / "config.json") or {}
    for flag, kind in (("pooling_mode_mean_tokens", PoolingType.MEAN), ("pooling_mode_cls_token", PoolingType.CLS),
                       ("pooling_mode_lasttoken", PoolingType.LAST)):
        if pooling.get(flag):
            return kind
    modes = {"mean": PoolingType.MEAN, "cls": PoolingType.CLS, "lasttoken": PoolingType.LAST}
    if pooling.get("pooling_mode") in modes:
        return modes[pooling["pooling_mode"]]
    raise UnsupportedInputError("This embedding model uses a pooling mode llama.cpp does not support.")


WRITERS: dict[str, Callable[[GGUFWriter, Params, Rope, int, LlamaFileType], None]] = {
    "llama": _llama, "qwen2": generic, "qwen3": generic, "gemma2": _gemma2, "gemma3": _gemma3, "phi3": _phi3,
}
