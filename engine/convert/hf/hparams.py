"""A model's hyper-parameters as llama.cpp's converter sees them.

The converter does not read ``config.json`` raw: it loads it through ``transformers.AutoConfig`` and
reads ``to_dict()``, which fills in the config class's defaults (``head_dim``, ``num_key_value_heads``,
``rope_theta`` ...) and, since transformers 5, folds ``rope_theta``/``rope_scaling`` into one
``rope_parameters`` dict. Which keys it writes depends on those filled-in values, so this module fills
in the same defaults for the architectures Quantpick converts (transformers 5.x config classes).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from engine.errors import CorruptInputError

# Defaults of the transformers config classes, only for the fields the converter reads.
_LLAMA = {
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": None, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6, "head_dim": None,
}
_MISTRAL = {
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 4096 * 32,
    "rms_norm_eps": 1e-6, "head_dim": None, "sliding_window": 4096,
}
_QWEN2 = {
    "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
}
_QWEN3 = {**_QWEN2, "head_dim": 128}
_GEMMA2 = {
    "vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-6, "sliding_window": 4096, "final_logit_softcapping": 30.0,
    "attn_logit_softcapping": 50.0,
}
_GEMMA3 = {
    **_GEMMA2, "vocab_size": 262208, "max_position_embeddings": 131072, "final_logit_softcapping": None,
    "attn_logit_softcapping": None,
}
_PHI3 = {
    "vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": None, "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "sliding_window": None,
}

# config class -> (defaults, derive head_dim when missing, default rope_theta)
_CLASSES: dict[str, tuple[dict[str, Any], bool, float]] = {
    "llama": (_LLAMA, True, 10000.0),
    "mistral": (_MISTRAL, True, 10000.0),
    "qwen2": (_QWEN2, False, 10000.0),
    "qwen3": (_QWEN3, False, 10000.0),
    "gemma2": (_GEMMA2, False, 10000.0),
    "gemma3": (_GEMMA3, False, 1_000_000.0),
    "phi3": (_PHI3, False, 10000.0),
}
_SCALED_ROPE = ("llama3", "yarn", "longrope")
GEMMA3_LOCAL_THETA = 10000.0
# Counts the converter computes with, each bounded far above any real model: a damaged or hostile
# config.json must end in a clear error, not in a loop over 2**31 layers or a list of 10**30 tokens.
_COUNT_LIMITS = {
    "vocab_size": 1 << 22, "vocab_size_per_layer_input": 1 << 22, "hidden_size": 1 << 20,
    "intermediate_size": 1 << 22, "num_hidden_layers": 1 << 10, "num_attention_heads": 1 << 12,
    "num_key_value_heads": 1 << 12, "head_dim": 1 << 14, "max_position_embeddings": 1 << 31,
    "original_max_position_embeddings": 1 << 31, "sliding_window": 1 << 31,
}


def load_hparams(config: Mapping[str, Any], config_class: str) -> dict[str, Any]:
    """``AutoConfig.to_dict()`` for ``config_class``, with ``text_config`` merged into the top level.

    Args:
        config: The parsed ``config.json``.
        config_class: A key of the defaults table (``llama``, ``gemma3`` ...).
    """
    raw = copy.deepcopy(dict(config))
    text = raw.get("text_config")
    if isinstance(text, dict):
        raw["text_config"] = _complete(text, config_class)
        return {**raw, **raw["text_config"]}
    return _complete(raw, config_class)


_NEVER_NULL = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")


def _check_counts(raw: Mapping[str, Any]) -> None:
    for key, limit in _COUNT_LIMITS.items():
        value = raw.get(key)
        if (value is not None or (key in raw and key in _NEVER_NULL)) and (
                type(value) is not int or not 0 < value <= limit):
            shown = repr(value) if len(repr(value)) < 40 else f"a {type(value).__name__}"
            raise CorruptInputError(
                f"config.json gives {key} as {shown}, not a whole number from 1 to {limit:,}.",
                "The file is damaged; download config.json again from the model's page.",
            )


def _complete(raw: dict[str, Any], config_class: str) -> dict[str, Any]:
    _check_counts(raw)
    defaults, derive_head_dim, theta = _CLASSES[config_class]
    hp = dict(raw)
    for key, value in defaults.items():
        hp.setdefault(key, value)
    if hp.get("num_key_value_heads") is None:
        hp["num_key_value_heads"] = hp["num_attention_heads"]
    if derive_head_dim and hp.get("head_dim") is None:
        hp["head_dim"] = hp["hidden_size"] // hp["num_attention_heads"]
    if config_class == "gemma3":
        hp["rope_parameters"] = _nested_rope(hp, theta)
    else:
        hp["rope_parameters"] = _flat_rope(hp, theta, phi3=config_class == "phi3")
    return hp


def _flat_rope(hp: dict[str, Any], default_theta: float, *, phi3: bool) -> dict[str, Any]:
    """One rope dict: scaling fields, ``rope_type`` and ``rope_theta`` (transformers 5 layout)."""
    scaling = hp.pop("rope_scaling", None)
    params = dict(scaling or hp.get("rope_parameters") or {})
    params.setdefault("rope_theta", hp.pop("rope_theta", default_theta))
    if phi3:
        params.setdefault("partial_rotary_factor", hp.get("partial_rotary_factor", 1.0))
    elif "partial_rotary_factor" in hp:
        params.setdefault("partial_rotary_factor", hp.pop("partial_rotary_factor"))
    params.setdefault("rope_type", params.get("type", "default"))
    if params["rope_type"] in _SCALED_ROPE:
        if "original_max_position_embeddings" in hp:
            params["original_max_position_embeddings"] = hp["original_max_position_embeddings"]
        else:
            params.setdefault("original_max_position_embeddings", hp["max_position_embeddings"])
    if phi3 and params["rope_type"] in ("su", "yarn"):
        params["rope_type"] = "longrope"
    return params


def _nested_rope(hp: dict[str, Any], global_theta: float) -> dict[str, Any]:
    """Gemma 3's per-layer-type rope dicts: full attention (global) and sliding attention (local)."""
    scaling = hp.pop("rope_scaling", None)
    given = hp.get("rope_parameters")
    params: dict[str, Any] = copy.deepcopy(given) if isinstance(given, dict) and given else {
        "sliding_attention": {"rope_type": "default"}, "full_attention": {"rope_type": "default"},
    }
    if not isinstance(params.get("full_attention"), dict):
        params["full_attention"] = {"rope_type": "default"}
    if scaling:
        params["full_attention"].update(scaling)
    params["full_attention"].setdefault("rope_theta", hp.pop("rope_theta", global_theta))
    if not isinstance(params.get("sliding_attention"), dict):
        params["sliding_attention"] = {"rope_type": "default"}
    params["sliding_attention"].setdefault("rope_theta", hp.pop("rope_local_base_freq", GEMMA3_LOCAL_THETA))
    for layer in params.values():
        layer.setdefault("rope_type", layer.get("type", "default"))
        if layer["rope_type"] in _SCALED_ROPE:
            layer.setdefault("original_max_position_embeddings", hp["max_position_embeddings"])
    return params


def find(hp: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present in ``hp`` (None when none is)."""
    return next((hp[k] for k in keys if k in hp), None)


def converter_rope(hp: Mapping[str, Any]) -> dict[str, Any]:
    """The converter's own rope view: ``rope_parameters`` with loose top-level rope keys mirrored in."""
    rope = copy.deepcopy(hp.get("rope_parameters", hp.get("rope_scaling")) or {})
    if "full_attention" in rope or "sliding_attention" in rope:
        return rope
    local = find(hp, ("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta",
                      "rope_local_base_freq"))
    if local is not None:
        rope["sliding_attention"] = {"rope_theta": local}
    mirrored = {
        "rope_theta": find(hp, ("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta",
                                "rotary_emb_base")),
        "rope_type": rope.get("type"),
        "partial_rotary_factor": find(hp, ("partial_rotary_factor", "rope_pct", "rope_percent")),
        "original_max_position_embeddings": hp.get("original_max_position_embeddings"),
    }
    for key, value in mirrored.items():
        if key not in rope and value is not None:
            rope[key] = value
    return rope
