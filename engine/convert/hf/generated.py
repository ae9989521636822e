"""Tensors the converter computes rather than copies: Llama 3 ``rope_freqs`` and Phi-3 rope factors.

Llama 3 scaling is computed step by step in float32, as the converter's torch code does, so the factors
round the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gguf import GGUFWriter

from engine.convert.hf.hparams import find
from engine.convert.hf.params import phi3_rope_dims
from engine.convert.hf.tensors import generated_tensor
from engine.convert.source import SourceTensor
from engine.errors import UnsupportedInputError

f32 = np.float32


def llama3_rope_freqs(hp: Mapping[str, Any], rope: Mapping[str, Any]) -> list[SourceTensor]:
    """``rope_freqs.weight`` for Llama 3.1+ "llama3" rope scaling; nothing for other rope types."""
    params = rope.get("full_attention", rope)
    if not params or str(params.get("rope_type", "")).lower() != "llama3":
        return []
    base = params.get("rope_theta", 10000.0)
    dim = hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"]
    exponent = np.arange(0, dim, 2, dtype=np.float32) / f32(dim)
    freqs = f32(1.0) / np.power(np.float64(base), exponent.astype(np.float64)).astype(np.float32)
    factor = params.get("factor", 8.0)
    low, high = params.get("low_freq_factor", 1.0), params.get("high_freq_factor", 4.0)
    old_ctx = params.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = f32(old_ctx / low), f32(old_ctx / high)
    factors = []
    for freq in freqs:
        wavelen = f32(2 * math.pi) / freq
        if wavelen < high_wavelen:
            factors.append(f32(1))
        elif wavelen > low_wavelen:
            factors.append(f32(factor))
        else:
            smooth = (f32(old_ctx) / wavelen - f32(low)) / f32(high - low)
            factors.append(f32(1) / ((f32(1) - smooth) / f32(factor) + smooth))
    return [generated_tensor("rope_freqs.weight", np.array(factors, dtype=np.float32))]


def phi3_rope_factors(writer: GGUFWriter, hp: Mapping[str, Any], rope: Mapping[str, Any]) -> list[SourceTensor]:
    """Phi-3 long-context models: long/short rope factors, and the attention factor key they imply."""
    long_factors, short_factors = rope.get("long_factor"), rope.get("short_factor")
    if not long_factors:
        return []
    max_pos = find(hp, ("n_positions", "max_position_embeddings"))
    orig = rope["original_max_position_embeddings"]
    scale = max_pos / orig
    kind = str(rope.get("rope_type", "")).lower()
    if kind in ("su", "longrope"):
        attn_factor = math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0
    elif kind == "yarn":
        attn_factor = 0.1 * math.log(scale) + 1.0 if scale > 1.0 else 1.0
    else:
        raise UnsupportedInputError(
            f"This Phi-3 model uses rope scaling {kind or '(unnamed)'}, which is not supported."
        )
    writer.add_rope_scaling_attn_factors(attn_factor)
    half = phi3_rope_dims(hp, rope) / 2
    if short_factors is None or len(long_factors) != len(short_factors) or len(long_factors) != half:
        raise UnsupportedInputError(
            f"This Phi-3 config's rope factor lists do not have {half:g} entries each, so it cannot be converted."
        )
    return [
        generated_tensor("rope_factors_long.weight", np.array(long_factors, dtype=np.float32)),
        generated_tensor("rope_factors_short.weight", np.array(short_factors, dtype=np.float32)),
    ]
