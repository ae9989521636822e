"""Synthetic llama-shaped F32 GGUF files of any size, for conversions that take a measurable time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFValueType

from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_write import GGUFStreamWriter, MetaValue, TensorSlot


def _u32(v: int) -> MetaValue:
    return MetaValue(GGUFValueType.UINT32, v)


def write_llama_gguf(path: Path, *, embd: int = 256, ff: int = 512, layers: int = 2, vocab: int = 512,
                     seed: int = 0) -> Path:
    """An F32 llama GGUF with random weights; llama-quantize's rules apply to it as to a real model."""
    head_dim = 64
    meta = [
        ("general.architecture", MetaValue(GGUFValueType.STRING, "llama")),
        ("general.name", MetaValue(GGUFValueType.STRING, path.stem)),
        ("llama.context_length", _u32(2048)),
        ("llama.embedding_length", _u32(embd)),
        ("llama.block_count", _u32(layers)),
        ("llama.feed_forward_length", _u32(ff)),
        ("llama.attention.head_count", _u32(embd // head_dim)),
        ("llama.attention.head_count_kv", _u32(1)),
        ("llama.attention.layer_norm_rms_epsilon", MetaValue(GGUFValueType.FLOAT32, 1e-5)),
        ("llama.rope.dimension_count", _u32(head_dim)),
        ("llama.vocab_size", _u32(vocab)),
        ("general.file_type", _u32(0)),
    ]
    shapes: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (embd, vocab))]
    for i in range(layers):
        shapes += [
            (f"blk.{i}.attn_norm.weight", (embd,)), (f"blk.{i}.attn_q.weight", (embd, embd)),
            (f"blk.{i}.attn_k.weight", (embd, head_dim)), (f"blk.{i}.attn_v.weight", (embd, head_dim)),
            (f"blk.{i}.attn_output.weight", (embd, embd)), (f"blk.{i}.ffn_norm.weight", (embd,)),
            (f"blk.{i}.ffn_gate.weight", (embd, ff)), (f"blk.{i}.ffn_up.weight", (embd, ff)),
            (f"blk.{i}.ffn_down.weight", (ff, embd)),
        ]
    shapes += [("output_norm.weight", (embd,)), ("output.weight", (embd, vocab))]
    rng = np.random.default_rng(seed)
    slots = [TensorSlot(name, shape, GGMLType.F32) for name, shape in shapes]
    with GGUFStreamWriter(path, meta, slots) as writer:
        for _, shape in shapes:
            writer.write(rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * 0.02)
    return path
