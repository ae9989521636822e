"""The GGUF tensors convert_hf_to_gguf.py would write for a config.json, so a model can be sized before it
is converted.

One table row per tensor kind: the GGUF name, its shape in GGUF order (row length first) as a function of
the dimensions, and which architectures have it. One-dimensional tensors (norms, biases) are written as F32;
matrices keep the checkpoint's dtype until quantized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import UnsupportedArchitectureError
from engine.formats.ggml_types import GGMLType
from engine.quant.rules import TensorSpec
from engine.recommend.model import ModelDescription

Shape = Callable[[ModelDescription], tuple[int, ...]]

DENSE = frozenset({"llama", "qwen2", "qwen3", "gemma2", "gemma3", "smollm3", "granite"})
MOE = frozenset({"llama", "qwen3moe"})  # llama covers Mixtral
ALL = DENSE | MOE | {"phi3"}
QK_NORM = frozenset({"qwen3", "qwen3moe", "gemma3"})
POST_NORMS = frozenset({"gemma2", "gemma3"})
QKV_BIAS = frozenset({"qwen2"})
SPLIT_QKV = ALL - {"phi3"}


@dataclass(frozen=True, slots=True)
class TensorKind:
    """One per-layer tensor: GGUF suffix, shape, the architectures that have it, and when it applies."""

    suffix: str
    shape: Shape
    archs: frozenset[str]
    when: Callable[[ModelDescription, bool], bool] = lambda d, bias: True


def _q(d: ModelDescription) -> int:
    return d.n_head * d.head_dim_k


def _dense(d: ModelDescription, bias: bool) -> bool:
    return not d.is_moe


def _moe(d: ModelDescription, bias: bool) -> bool:
    return d.is_moe


def _bias(d: ModelDescription, bias: bool) -> bool:
    return bias


LAYER_TENSORS: tuple[TensorKind, ...] = (
    TensorKind("attn_norm.weight", lambda d: (d.n_embd,), ALL),
    TensorKind("attn_q.weight", lambda d: (d.n_embd, _q(d)), SPLIT_QKV),
    TensorKind("attn_k.weight", lambda d: (d.n_embd, d.n_embd_k_gqa), SPLIT_QKV),
    TensorKind("attn_v.weight", lambda d: (d.n_embd, d.n_embd_v_gqa), SPLIT_QKV),
    TensorKind("attn_q.bias", lambda d: (_q(d),), SPLIT_QKV, _bias),
    TensorKind("attn_k.bias", lambda d: (d.n_embd_k_gqa,), SPLIT_QKV, _bias),
    TensorKind("attn_v.bias", lambda d: (d.n_embd_v_gqa,), SPLIT_QKV, _bias),
    TensorKind("attn_qkv.weight", lambda d: (d.n_embd, _q(d) + d.n_embd_k_gqa + d.n_embd_v_gqa),
               frozenset({"phi3"})),
    TensorKind("attn_q_norm.weight", lambda d: (d.head_dim_k,), QK_NORM),
    TensorKind("attn_k_norm.weight", lambda d: (d.head_dim_k,), QK_NORM),
    TensorKind("attn_output.weight", lambda d: (d.n_head * d.head_dim_v, d.n_embd), ALL),
    TensorKind("post_attention_norm.weight", lambda d: (d.n_embd,), POST_NORMS),
    TensorKind("ffn_norm.weight", lambda d: (d.n_embd,), ALL),
    TensorKind("ffn_gate.weight", lambda d: (d.n_embd, d.n_ff), DENSE, _dense),
    TensorKind("ffn_up.weight", lambda d: (d.n_embd, d.n_ff), DENSE, _dense),
    TensorKind("ffn_up.weight", lambda d: (d.n_embd, 2 * d.n_ff), frozenset({"phi3"})),
    TensorKind("ffn_down.weight", lambda d: (d.n_ff, d.n_embd), DENSE | {"phi3"}, _dense),
    TensorKind("ffn_gate_inp.weight", lambda d: (d.n_embd, d.n_expert), MOE, _moe),
    TensorKind("ffn_gate_exps.weight", lambda d: (d.n_embd, d.n_ff_exp, d.n_expert), MOE, _moe),
    TensorKind("ffn_up_exps.weight", lambda d: (d.n_embd, d.n_ff_exp, d.n_expert), MOE, _moe),
    TensorKind("ffn_down_exps.weight", lambda d: (d.n_ff_exp, d.n_embd, d.n_expert), MOE, _moe),
    TensorKind("post_ffw_norm.weight", lambda d: (d.n_embd,), POST_NORMS),
)


def gguf_tensors(
    desc: ModelDescription, *, dtype: GGMLType = GGMLType.BF16, qkv_bias: bool | None = None
) -> tuple[TensorSpec, ...]:
    """Every tensor a conversion of ``desc`` would contain, matrices in ``dtype`` and vectors in F32.

    Args:
        desc: the model's dimensions.
        dtype: the checkpoint's weight type (BF16 for most Hugging Face releases).
        qkv_bias: whether q/k/v carry biases; None uses the architecture's default (Qwen2: yes).

    Raises:
        UnsupportedArchitectureError: an architecture this table does not describe.
    """
    if desc.arch not in ALL or (desc.is_moe and desc.arch not in MOE):
        raise UnsupportedArchitectureError(
            f"Quantpick cannot yet work out the GGUF tensors of a {desc.arch!r} model from its config.",
            "Size a ready-made GGUF of this model instead; that works for every architecture.",
        )
    bias = desc.arch in QKV_BIAS if qkv_bias is None else qkv_bias
    specs = [_spec("token_embd.weight", (desc.n_embd, desc.n_vocab), dtype), _spec("output_norm.weight",
                                                                                   (desc.n_embd,), dtype)]
    if not desc.tied_embeddings:
        specs.append(_spec("output.weight", (desc.n_embd, desc.n_vocab), dtype))
    for il in range(desc.n_layer):
        for kind in LAYER_TENSORS:
            if desc.arch in kind.archs and kind.when(desc, bias):
                specs.append(_spec(f"blk.{il}.{kind.suffix}", kind.shape(desc), dtype))
    return tuple(specs)


def _spec(name: str, shape: tuple[int, ...], dtype: GGMLType) -> TensorSpec:
    """Vectors and router weights are stored F32 by the converter; other matrices keep ``dtype``."""
    keep_f32 = len(shape) == 1 or name.endswith("ffn_gate_inp.weight")
    return TensorSpec(name, shape, GGMLType.F32 if keep_f32 else dtype)


def with_gguf_tensors(
    desc: ModelDescription, *, dtype: GGMLType = GGMLType.BF16, qkv_bias: bool | None = None
) -> ModelDescription:
    """``desc`` with its generated tensor list (see ``gguf_tensors``)."""
    return desc.with_tensors(gguf_tensors(desc, dtype=dtype, qkv_bias=qkv_bias))
