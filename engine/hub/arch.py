"""Architecture dimensions the memory model needs, read from a Hugging Face ``config.json``.

The names follow llama.cpp's hparams (``n_layer``, ``n_embd``, ``n_head_kv``, ``n_swa`` ...) so the
recommender can use them as it would use GGUF metadata. Parameter counts are recomputed from the
dimensions: the catalog test uses that to catch a mistyped dimension, and the picker uses it when a repo
publishes no safetensors parameter count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import UnsupportedInputError

# Defaults of config classes whose config.json may omit fields (Gemma 3's multimodal ``text_config``
# lists only what differs from Gemma3TextConfig's defaults).
_MODEL_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma": {"tie_word_embeddings": True},
    "gemma2": {"tie_word_embeddings": True},
    "gemma3_text": {
        "tie_word_embeddings": True,
        "vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
        "max_position_embeddings": 131072, "sliding_window": 4096, "sliding_window_pattern": 6,
    },
}

# Architectures whose sliding-window attention llama.cpp applies, with its default layer pattern
# (every n-th layer uses full attention). Other configs may carry ``sliding_window`` (Qwen2 with
# ``use_sliding_window: false``, Phi-3) but llama.cpp runs them with full attention.
_SWA_PATTERN: dict[str, int] = {"gemma2": 2, "gemma3_text": 6, "gemma3": 6, "gpt_oss": 2, "cohere2": 4}

# model_type values whose q/k/v projections carry a bias vector (affects the parameter count only).
_QKV_BIAS = frozenset({"qwen2", "qwen2_moe"})

_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


@dataclass(frozen=True, slots=True)
class ArchDims:
    """The shape of a decoder-only transformer, as llama.cpp sees it.

    ``n_swa`` is the sliding-window length (0 when every layer attends to the whole context) and
    ``swa_pattern`` says every how many layers one uses full attention (Gemma 3: 6, i.e. 5 local + 1
    global). ``n_ctx_train`` is ``max_position_embeddings``, what llama.cpp reports as n_ctx_train.
    For mixture-of-experts models ``n_ff_exp`` is each expert's hidden size.
    """

    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int
    n_swa: int = 0
    swa_pattern: int = 0
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    tied_embeddings: bool = False
    qkv_bias: bool = False

    @property
    def n_embd_k_gqa(self) -> int:
        """Width of one layer's K (and V) cache row per token."""
        return self.n_head_kv * self.head_dim

    @property
    def n_swa_layers(self) -> int:
        """How many layers use the sliding window (llama.cpp: layer il is SWA unless il % pattern == pattern-1)."""
        if not self.n_swa or not self.swa_pattern:
            return 0
        full = sum(1 for il in range(self.n_layer) if il % self.swa_pattern == self.swa_pattern - 1)
        return self.n_layer - full

    def _attn_params(self) -> int:
        q_out = self.n_head * self.head_dim
        kv_out = self.n_head_kv * self.head_dim
        weights = self.n_embd * q_out + 2 * self.n_embd * kv_out + q_out * self.n_embd
        return weights + (q_out + 2 * kv_out if self.qkv_bias else 0)

    def _ffn_params(self, experts: int) -> int:
        if self.n_expert:
            return experts * 3 * self.n_embd * self.n_ff_exp + self.n_embd * self.n_expert
        return 3 * self.n_embd * self.n_ff

    def _params(self, experts: int) -> int:
        per_layer = self._attn_params() + self._ffn_params(experts) + 2 * self.n_embd
        embeddings = self.n_vocab * self.n_embd * (1 if self.tied_embeddings else 2)
        return embeddings + self.n_layer * per_layer + self.n_embd

    def estimate_params(self) -> int:
        """Total parameters of the language model (gated FFN, no vision tower); within ~1% for common models."""
        return self._params(self.n_expert)

    def estimate_active_params(self) -> int:
        """Parameters used per token: everything except the experts a token does not route to."""
        return self._params(self.n_expert_used) if self.n_expert else self.estimate_params()

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArchDims:
        """Build from the catalog's ``dims`` object (the same names as the fields)."""
        unknown = set(data) - set(cls.__slots__)
        if unknown:
            raise ValueError(f"unknown dimension(s) {sorted(unknown)}")
        return cls(**dict(data))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ArchDims:
        """Read a transformers ``config.json`` (nested ``text_config`` for multimodal models).

        Raises:
            UnsupportedInputError: the config lacks the fields of a decoder-only transformer.
        """
        text = _text_config(config)
        try:
            return _dims_from_text_config(text)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            raise UnsupportedInputError(
                f"The model's config.json does not describe a text transformer Quantpick understands ({e}).",
                hint="Pick a GGUF repo of this model, or a model with a standard config.json.",
            ) from e


def _text_config(config: Mapping[str, Any]) -> dict[str, Any]:
    nested = config.get("text_config")
    text = dict(nested) if isinstance(nested, Mapping) else dict(config)
    if isinstance(nested, Mapping):
        text.setdefault("model_type", f"{config.get('model_type', '')}_text")
        text.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", True))
    defaults = _MODEL_TYPE_DEFAULTS.get(str(text.get("model_type", "")), {})
    return {**defaults, **text}


def _swa(text: Mapping[str, Any]) -> tuple[int, int]:
    model_type = str(text.get("model_type", ""))
    window = text.get("sliding_window")
    if model_type not in _SWA_PATTERN or not window:
        return 0, 0
    layer_types = text.get("layer_types")
    if isinstance(layer_types, list) and "full_attention" in layer_types:
        pattern = layer_types.index("full_attention") + 1
    else:
        pattern = int(text.get("sliding_window_pattern") or _SWA_PATTERN[model_type])
    return int(window), pattern


def _dims_from_text_config(text: Mapping[str, Any]) -> ArchDims:
    n_embd = int(text["hidden_size"])
    n_head = int(text["num_attention_heads"])
    head_dim = int(text.get("head_dim") or n_embd // n_head)
    n_expert = next((int(text[k]) for k in _EXPERT_KEYS if text.get(k)), 0)
    n_swa, swa_pattern = _swa(text)
    return ArchDims(
        n_layer=int(text["num_hidden_layers"]),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=int(text.get("num_key_value_heads") or n_head),
        head_dim=head_dim,
        n_ff=int(text.get("intermediate_size") or 0),
        n_vocab=int(text["vocab_size"]),
        n_ctx_train=int(text.get("max_position_embeddings") or 0),
        n_swa=n_swa,
        swa_pattern=swa_pattern,
        n_expert=n_expert,
        n_expert_used=int(text.get("num_experts_per_tok") or 0) if n_expert else 0,
        n_ff_exp=int(text.get("moe_intermediate_size") or text.get("intermediate_size") or 0) if n_expert else 0,
        tied_embeddings=bool(text.get("tie_word_embeddings", False)),
        qkv_bias=str(text.get("model_type", "")) in _QKV_BIAS or bool(text.get("attention_bias", False)),
    )
