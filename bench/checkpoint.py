"""Generate a Hugging Face llama checkpoint of a given shape with random BF16 weights.

Used by the conversion benchmark: TinyLlama-1.1B-shaped by default (vocab 32000, n_embd 2048, n_ff 5632,
22 layers, 32 heads, 4 KV heads), two safetensors shards, the golden SentencePiece tokenizer. Values are
normal(0, 0.02) rounded to BF16, taken in 4M-value chunks at random offsets of a 20M-value pool: drawing
fresh normals for a 7B shape took minutes, while copying from the pool runs at the disk's speed, and the
quantizers' work does not depend on which normal values they meet.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPM_TOKENIZER = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden" / "convert" / "hf-tiny-llama-spm"


@dataclass(frozen=True, slots=True)
class Shape:
    """Hyper-parameters of a llama-family model."""

    vocab: int = 32000
    n_embd: int = 2048
    n_ff: int = 5632
    n_layer: int = 22
    n_head: int = 32
    n_head_kv: int = 4


TINYLLAMA = Shape()
THREE_B = Shape(vocab=32000, n_embd=3200, n_ff=8640, n_layer=26, n_head=32, n_head_kv=32)


def tensor_shapes(s: Shape) -> dict[str, tuple[int, ...]]:
    """HF tensor names and (torch-order) shapes of a llama model with an untied lm_head."""
    hd = s.n_embd // s.n_head
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (s.vocab, s.n_embd),
        "model.norm.weight": (s.n_embd,),
        "lm_head.weight": (s.vocab, s.n_embd),
    }
    for i in range(s.n_layer):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (s.n_embd,),
            p + "post_attention_layernorm.weight": (s.n_embd,),
            p + "self_attn.q_proj.weight": (s.n_head * hd, s.n_embd),
            p + "self_attn.k_proj.weight": (s.n_head_kv * hd, s.n_embd),
            p + "self_attn.v_proj.weight": (s.n_head_kv * hd, s.n_embd),
            p + "self_attn.o_proj.weight": (s.n_embd, s.n_head * hd),
            p + "mlp.gate_proj.weight": (s.n_ff, s.n_embd),
            p + "mlp.up_proj.weight": (s.n_ff, s.n_embd),
            p + "mlp.down_proj.weight": (s.n_embd, s.n_ff),
        }
    return shapes


_CHUNK = 1 << 22
_POOL = 5 * _CHUNK


def _bf16(values: np.ndarray) -> np.ndarray:
    return (values.view(np.uint32) >> 16).astype(np.uint16)


def _write_shard(path: Path, names: list[str], shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> None:
    header: dict[str, object] = {}
    offset = 0
    for name in names:
        nbytes = 2 * int(np.prod(shapes[name]))
        header[name] = {"dtype": "BF16", "shape": list(shapes[name]), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    pool = rng.standard_normal(_POOL, np.float32) * np.float32(0.02)
    weights, norms = _bf16(pool), _bf16(pool + np.float32(1))
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        for name in names:
            n = int(np.prod(shapes[name]))
            source = norms if len(shapes[name]) == 1 else weights
            for start in range(0, n, _CHUNK):
                count = min(_CHUNK, n - start)
                at = int(rng.integers(0, _POOL - count + 1))
                fh.write(source[at:at + count].tobytes())


def write_checkpoint(folder: Path, shape: Shape = TINYLLAMA, *, seed: int = 0) -> Path:
    """Write config, tokenizer and two shards into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = tensor_shapes(shape)
    names = sorted(shapes)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    rng = np.random.default_rng(seed)
    for file_name, group in shards.items():
        _write_shard(folder / file_name, group, shapes, rng)
    weight_map = {n: f for f, group in shards.items() for n in group}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": shape.n_embd,
        "intermediate_size": shape.n_ff, "num_hidden_layers": shape.n_layer, "num_attention_heads": shape.n_head,
        "num_key_value_heads": shape.n_head_kv, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "vocab_size": shape.vocab, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(SPM_TOKENIZER / name, folder / name)
    return folder
