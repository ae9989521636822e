"""Which tensors llama-quantize may change, what kind of tensor each is, and the model facts its rules read.

This is the vocabulary of quant-spec section 5 (llama.cpp ``src/llama-quant.cpp``): eligibility (5.2),
categories and model facts (5.3), the output order of tensors (5.1) and the block-size fallback (5.6).
The promotion tables themselves live in ``engine.quant.mix_rules``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from engine.errors import CorruptInputError, UsageError
from engine.formats.ggml_types import GGMLType, layout_of

__all__ = [
    "Category", "ModelFacts", "TensorSpec", "category_of", "fallback_type", "is_quantizable", "layer_of",
    "n_dims", "tensor_order_key", "use_more_bits",
]


class Category(Enum):
    """The broad role of a tensor, as llama-quantize classifies names (not per-architecture names)."""

    OUTPUT = "output"
    TOKEN_EMBD = "token_embd"
    ATTN_QKV = "attn_qkv"
    ATTN_KV_B = "attn_kv_b"
    ATTN_V = "attn_v"
    ATTN_K = "attn_k"
    ATTN_Q = "attn_q"
    ATTN_OUTPUT = "attn_output"
    FFN_UP = "ffn_up"
    FFN_GATE = "ffn_gate"
    FFN_DOWN = "ffn_down"
    OTHER = "other"

    @property
    def is_v_like(self) -> bool:
        """V, fused QKV and MLA's KV_B share the attn_v promotions (and its counter)."""
        return self in (Category.ATTN_V, Category.ATTN_QKV, Category.ATTN_KV_B)


_EXACT_CATEGORIES: dict[str, Category] = {
    "output.weight": Category.OUTPUT,
    "token_embd.weight": Category.TOKEN_EMBD,
    "per_layer_token_embd.weight": Category.TOKEN_EMBD,
}
# First substring found wins, in this order.
_SUBSTRING_CATEGORIES: tuple[tuple[str, Category], ...] = (
    ("attn_qkv.weight", Category.ATTN_QKV),
    ("attn_kv_b.weight", Category.ATTN_KV_B),
    ("attn_v.weight", Category.ATTN_V),
    ("attn_k.weight", Category.ATTN_K),
    ("attn_q.weight", Category.ATTN_Q),
    ("attn_output.weight", Category.ATTN_OUTPUT),
    ("ffn_up", Category.FFN_UP),
    ("ffn_gate", Category.FFN_GATE),
    ("ffn_down", Category.FFN_DOWN),
)


def category_of(name: str) -> Category:
    """Classify a GGUF tensor name the way llama-quantize does."""
    if name in _EXACT_CATEGORIES:
        return _EXACT_CATEGORIES[name]
    for part, category in _SUBSTRING_CATEGORIES:
        if part in name:
            return category
    return Category.OTHER


# Tensors llama-quantize never changes: small, positional or routing weights (quant-spec 5.2).
_KEEP_IF_CONTAINS: tuple[str, ...] = (
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    *(f"time_mix_{part}.weight" for part in (
        "first", "w0", "w1", "w2", "v0", "v1", "v2", "a0", "a1", "a2", "g1", "g2", "decay_w1", "decay_w2",
        "lerp_fused")),
    "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
)
_KEEP_IF_EQUALS: frozenset[str] = frozenset({"position_embd.weight", "token_types.weight"})


def n_dims(shape: Sequence[int]) -> int:
    """Dimensions after dropping trailing size-1 ones (at least 1), as ggml counts them."""
    dims = len(shape)
    while dims > 1 and shape[dims - 1] == 1:
        dims -= 1
    return max(dims, 1)


def is_quantizable(name: str, shape: Sequence[int], *, leave_output: bool = False) -> bool:
    """True when llama-quantize may give this tensor a new type; others keep their input type.

    Args:
        name: GGUF tensor name.
        shape: GGUF shape, row length first.
        leave_output: llama-quantize's ``--leave-output-tensor``.
    """
    if n_dims(shape) < 2 or not name.endswith("weight"):
        return False
    if leave_output and name == "output.weight":
        return False
    if name in _KEEP_IF_EQUALS:
        return False
    return not any(part in name for part in _KEEP_IF_CONTAINS)


_LAYER_PREFIX = re.compile(r"blk\.\s*([+-]?\d+)")


def layer_of(name: str) -> int | None:
    """The N of a leading ``blk.N.`` (parsed like C's ``sscanf("blk.%d.")``), or None."""
    match = _LAYER_PREFIX.match(name)
    return int(match.group(1)) if match else None


def tensor_order_key(name: str) -> tuple[int, bytes]:
    """Sort key of llama.cpp's weight map: layer (-1 for none) first, then the name's bytes."""
    layer = layer_of(name)
    return (-1 if layer is None else layer, name.encode("utf-8"))


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's choice of layers that get extra bits: first and last eighth, and every third between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


# 256-block types and their 32-block stand-ins; a 32-block type stands in for itself (then F16 if rows still
# do not fit), and any other type has none (llama-quantize fails on it).
_FALLBACKS: dict[GGMLType, GGMLType] = {
    GGMLType.IQ1_S: GGMLType.IQ4_NL, GGMLType.IQ1_M: GGMLType.IQ4_NL, GGMLType.IQ2_XXS: GGMLType.IQ4_NL,
    GGMLType.IQ2_XS: GGMLType.IQ4_NL, GGMLType.IQ2_S: GGMLType.IQ4_NL, GGMLType.IQ3_XXS: GGMLType.IQ4_NL,
    GGMLType.IQ3_S: GGMLType.IQ4_NL, GGMLType.IQ4_XS: GGMLType.IQ4_NL,
    GGMLType.Q2_K: GGMLType.Q4_0, GGMLType.Q3_K: GGMLType.Q4_0, GGMLType.TQ1_0: GGMLType.Q4_0,
    GGMLType.TQ2_0: GGMLType.Q4_0,
    GGMLType.Q4_K: GGMLType.Q5_0, GGMLType.Q5_K: GGMLType.Q5_1, GGMLType.Q6_K: GGMLType.Q8_0,
}


def fallback_type(qtype: GGMLType, row_length: int) -> GGMLType:
    """The type llama-quantize uses when ``row_length`` is not a whole number of ``qtype`` blocks.

    Returns ``qtype`` itself when it fits; else its 32-block stand-in (a 32-block type is its own), or F16 if
    even that does not fit (llama-quantize's "must use F16 due to unusual shape").

    Raises:
        UsageError: a type with blocks over 32 and no stand-in: llama-quantize has no fallback and fails too.
    """
    if row_length % layout_of(qtype).block_size == 0:
        return qtype
    if layout_of(qtype).block_size <= 32:
        return GGMLType.F16
    if qtype not in _FALLBACKS:
        raise UsageError(
            f"Rows of {row_length} values cannot be stored as {qtype.name} (blocks of "
            f"{layout_of(qtype).block_size}), and llama-quantize has no substitute for it.",
            "Pick a K-quant or IQ4 file type, or F16/BF16/F32.",
        )
    substitute = _FALLBACKS[qtype]
    return substitute if row_length % layout_of(substitute).block_size == 0 else GGMLType.F16


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor as its source describes it.

    Attributes:
        name: GGUF tensor name (``blk.0.attn_q.weight``).
        shape: GGUF shape, row length first (``ne`` order).
        source: Its type in the input.
    """

    name: str
    shape: tuple[int, ...]
    source: GGMLType

    @classmethod
    def of(cls, item: TensorSpec | tuple[str, Sequence[int], GGMLType | str]) -> TensorSpec:
        """Accept a TensorSpec or a plain ``(name, shape, source)`` triple; ``source`` may be a type name."""
        if isinstance(item, TensorSpec):
            return item
        name, shape, source = item
        if isinstance(source, str):
            try:
                source = GGMLType[source.upper()]
            except KeyError as e:
                raise UsageError(f"Tensor {name} has an unknown type {source!r}.") from e
        return cls(name, tuple(int(d) for d in shape), GGMLType(source))


# Architectures llama.cpp labels "70B" from the layer count (its attn_v rule gives those more bits).
_SEVENTY_B_LAYERS: dict[str, int] = {"llama": 80, "qwen2": 80, "deci": 80}


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """The hyper-parameters llama-quantize's type rules read.

    Attributes:
        arch: GGUF architecture name (``llama``, ``qwen2``, ``falcon`` ...).
        n_layer: Number of transformer blocks (``{arch}.block_count``).
        n_head: Attention heads of layer 0.
        n_head_kv: Key/value heads of layer 0 (equal to ``n_head`` without grouped-query attention).
        n_expert: Experts per MoE layer, 0 for dense models.
    """

    arch: str
    n_layer: int
    n_head: int = 0
    n_head_kv: int = 0
    n_expert: int = 0

    @property
    def n_gqa(self) -> int:
        """Query heads per KV head (integer division), 0 when there are no KV heads."""
        return self.n_head // self.n_head_kv if self.n_head_kv else 0

    @property
    def is_70b(self) -> bool:
        """llama.cpp's LLM_TYPE_70B: 80 layers in llama (with GQA, not Mixtral), qwen2 or deci."""
        if _SEVENTY_B_LAYERS.get(self.arch) != self.n_layer:
            return False
        if self.arch == "llama":
            return self.n_head != self.n_head_kv and self.n_expert != 8
        return True

    @classmethod
    def from_gguf_metadata(cls, metadata: Mapping[str, Any]) -> ModelFacts:
        """Read facts from GGUF key/values (``{"general.architecture": "llama", ...}``).

        Per-layer arrays (``head_count`` as a list) count by layer 0, as llama.cpp does.

        Raises:
            CorruptInputError: the architecture or block count is missing.
        """
        arch = metadata.get("general.architecture")
        if not isinstance(arch, str) or not arch:
            raise CorruptInputError("The GGUF metadata does not name the model architecture.")
        n_layer = _first(metadata.get(f"{arch}.block_count"))
        if n_layer is None:
            raise CorruptInputError(f"The GGUF metadata has no {arch}.block_count (number of layers).")
        n_head = _first(metadata.get(f"{arch}.attention.head_count")) or 0
        n_head_kv = _first(metadata.get(f"{arch}.attention.head_count_kv"))
        n_expert = _first(metadata.get(f"{arch}.expert_count")) or 0
        return cls(arch, n_layer, n_head, n_head if n_head_kv is None else n_head_kv, n_expert)

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any], *, arch: str) -> ModelFacts:
        """Read facts from a Hugging Face ``config.json`` dict; ``arch`` is the GGUF architecture name.

        Raises:
            CorruptInputError: the config does not give ``num_hidden_layers``.
        """
        cfg = config.get("text_config", config) if "num_hidden_layers" not in config else config
        n_layer = _first(cfg.get("num_hidden_layers"))
        if n_layer is None:
            raise CorruptInputError("config.json does not say how many layers the model has.")
        n_head = _first(cfg.get("num_attention_heads")) or 0
        n_head_kv = _first(cfg.get("num_key_value_heads"))
        n_expert = next((_first(cfg[k]) for k in _HF_EXPERT_KEYS if cfg.get(k) is not None), 0) or 0
        return cls(arch, n_layer, n_head, n_head if n_head_kv is None else n_head_kv, n_expert)


_HF_EXPERT_KEYS: tuple[str, ...] = ("num_local_experts", "num_experts", "n_routed_experts")


def _first(value: Any) -> int | None:
    """An integer from a scalar or the first element of a per-layer list/array."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0:
        if len(value) == 0:
            return None
        value = value[0]
    return int(value)
