"""Tiny random Hugging Face checkpoints for every supported architecture, written byte by byte.

The safetensors writer here is independent of the reader under test: it packs the JSON header and raw
little-endian bytes as the format describes. Tokenizer files are copied from the golden folders.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import GOLDEN

SPM_DIR = GOLDEN / "convert" / "hf-tiny-llama-spm"
BPE_DIR = GOLDEN / "convert" / "hf-tiny-llama-bpe"
SPM_VOCAB, BPE_VOCAB = 512, 49152


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns, round to nearest even (finite inputs)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path: Path, tensors: dict[str, tuple[str, np.ndarray]]) -> None:
    """``tensors``: name -> (dtype, array); BF16 arrays are float32 values, stored rounded."""
    header: dict[str, Any] = {}
    blobs = []
    offset = 0
    for name, (dtype, arr) in tensors.items():
        raw = {"BF16": lambda a: bf16_bits(a), "F16": lambda a: a.astype("<f2"),
               "F32": lambda a: a.astype("<f4")}[dtype](arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def _write_weights(folder: Path, tensors: dict[str, tuple[str, np.ndarray]], shards: int) -> None:
    """One model.safetensors, or ``shards`` files (tensors dealt round-robin) with an index."""
    if shards == 1:
        write_safetensors(folder / "model.safetensors", tensors)
        return
    names = [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    parts: list[dict[str, tuple[str, np.ndarray]]] = [{} for _ in range(shards)]
    weight_map = {}
    for i, (name, tensor) in enumerate(tensors.items()):
        parts[(shards - 1 - i) % shards][name] = tensor
        weight_map[name] = names[(shards - 1 - i) % shards]
    for fname, part in zip(names, parts, strict=True):
        write_safetensors(folder / fname, part)
    index = {"metadata": {"total_size": 0}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))


def _layer(i: int, cfg: dict[str, Any], rng: np.random.Generator, family: str) -> dict[str, np.ndarray]:
    d, ff = cfg["hidden_size"], cfg["intermediate_size"]
    hd = cfg.get("head_dim") or d // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    p = f"model.layers.{i}."
    w = {p + "input_layernorm.weight": rng.normal(size=d), p + "post_attention_layernorm.weight": rng.normal(size=d),
         p + "self_attn.o_proj.weight": rng.normal(size=(d, q)), p + "mlp.down_proj.weight": rng.normal(size=(d, ff))}
    if family == "phi3":
        w[p + "self_attn.qkv_proj.weight"] = rng.normal(size=(q + 2 * kv, d))
        w[p + "mlp.gate_up_proj.weight"] = rng.normal(size=(2 * ff, d))
        return w
    shapes = {"self_attn.q_proj": (q, d), "self_attn.k_proj": (kv, d), "self_attn.v_proj": (kv, d),
              "mlp.gate_proj": (ff, d), "mlp.up_proj": (ff, d)}
    w.update({p + name + ".weight": rng.normal(size=shape) for name, shape in shapes.items()})
    if family == "qwen2":
        for proj, n in (("q", q), ("k", kv), ("v", kv)):
            w[p + f"self_attn.{proj}_proj.bias"] = rng.normal(size=n)
    if family in ("qwen3", "gemma3"):
        w[p + "self_attn.q_norm.weight"] = rng.normal(size=hd)
        w[p + "self_attn.k_norm.weight"] = rng.normal(size=hd)
    if family in ("gemma2", "gemma3"):
        w[p + "pre_feedforward_layernorm.weight"] = rng.normal(size=d)
        w[p + "post_feedforward_layernorm.weight"] = rng.normal(size=d)
    return w


def make_checkpoint(folder: Path, config: dict[str, Any], *, family: str, tokenizer: str | None,
                    embed_rows: int | None = None, lm_head: bool = True, dtype: str = "BF16", prefix: str = "",
                    extra: dict[str, np.ndarray] | None = None, seed: int = 0, norm_scale: float = 1.0,
                    vision: bool = False, shards: int = 1,
                    files: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Write config.json, model.safetensors and (unless ``tokenizer`` is None) the tokenizer files.

    Returns the float32 values written (before any BF16/F16 rounding).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cfg = config.get("text_config", config)
    rows = embed_rows or cfg["vocab_size"]
    weights = {"model.embed_tokens.weight": rng.normal(size=(rows, cfg["hidden_size"])),
               "model.norm.weight": rng.normal(size=cfg["hidden_size"])}
    for i in range(cfg["num_hidden_layers"]):
        weights.update(_layer(i, cfg, rng, family))
    weights = {prefix + k if k.startswith("model.") and prefix else k: v for k, v in weights.items()}
    if lm_head:
        weights["lm_head.weight"] = rng.normal(size=(rows, cfg["hidden_size"]))
    weights = {k: v * norm_scale if k.endswith("norm.weight") else v for k, v in weights.items()}
    if vision:
        weights["vision_tower.vision_model.embeddings.patch_embedding.weight"] = rng.normal(size=(8, 3, 2, 2))
        weights["multi_modal_projector.mm_input_projection_weight"] = rng.normal(size=(8, cfg["hidden_size"]))
    weights.update(extra or {})
    values = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    _write_weights(folder, {k: (dtype, v) for k, v in values.items()}, shards)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    if tokenizer is None:
        return values
    source = SPM_DIR if tokenizer == "spm" else BPE_DIR
    names = ("tokenizer.model", "tokenizer_config.json") if tokenizer == "spm" else (
        "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
    for name in names:
        shutil.copy(source / name, folder / name)
    return values


def base_config(arch: str, model_type: str, vocab: int, **extra: Any) -> dict[str, Any]:
    cfg = {"architectures": [arch], "model_type": model_type, "hidden_size": 64, "intermediate_size": 96,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
           "rms_norm_eps": 1e-6, "vocab_size": vocab, "bos_token_id": 1, "eos_token_id": 2}
    cfg.update(extra)
    return cfg
