"""Tiny models whose bytes can be added up by hand."""

from __future__ import annotations

from engine.formats.ggml_types import GGMLType
from engine.quant.rules import TensorSpec
from engine.recommend.model import ModelDescription, swa_layers

F32, Q8 = GGMLType.F32, GGMLType.Q8_0


def tiny(*, n_layer: int = 2, tied: bool = False, swa: int = 0, pattern: int = 0, qtype: GGMLType = Q8,
         n_expert: int = 0) -> ModelDescription:
    """A llama-style model: n_embd 64, 2 heads of 32, 1 KV head, n_ff 128, vocab 256 (rows are whole Q8_0 blocks)."""
    E, F, V, D = 64, 128, 256, 32
    tensors = [TensorSpec("token_embd.weight", (E, V), qtype), TensorSpec("output_norm.weight", (E,), F32)]
    if not tied:
        tensors.append(TensorSpec("output.weight", (E, V), qtype))
    for il in range(n_layer):
        b = f"blk.{il}."
        tensors += [
            TensorSpec(b + "attn_norm.weight", (E,), F32), TensorSpec(b + "attn_q.weight", (E, 2 * D), qtype),
            TensorSpec(b + "attn_k.weight", (E, D), qtype), TensorSpec(b + "attn_v.weight", (E, D), qtype),
            TensorSpec(b + "attn_output.weight", (2 * D, E), qtype), TensorSpec(b + "ffn_norm.weight", (E,), F32),
        ]
        if n_expert:
            tensors += [TensorSpec(b + "ffn_gate_inp.weight", (E, n_expert), F32),
                        TensorSpec(b + "ffn_gate_exps.weight", (E, F, n_expert), qtype),
                        TensorSpec(b + "ffn_up_exps.weight", (E, F, n_expert), qtype),
                        TensorSpec(b + "ffn_down_exps.weight", (F, E, n_expert), qtype)]
        else:
            tensors += [TensorSpec(b + "ffn_gate.weight", (E, F), qtype), TensorSpec(b + "ffn_up.weight", (E, F), qtype),
                        TensorSpec(b + "ffn_down.weight", (F, E), qtype)]
    return ModelDescription(
        name="tiny", arch="gemma3" if swa else "llama", n_layer=n_layer, n_embd=E, n_head=2, n_head_kv=1,
        head_dim_k=D, head_dim_v=D, n_ff=0 if n_expert else F, n_vocab=V, n_ctx_train=4096, n_swa=swa,
        swa_layers=swa_layers(n_layer, swa, pattern), n_expert=n_expert, n_expert_used=2 if n_expert else 0,
        n_ff_exp=F if n_expert else 0, tied_embeddings=tied, tensors=tuple(tensors), source="gguf",
    )


def q8_bytes(n_values: int) -> int:
    """Q8_0 stores 32 values in 34 bytes."""
    return n_values // 32 * 34
