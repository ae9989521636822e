"""Byte-level builders for GGUF and safetensors files, so tests can write exactly the lie they need.

These are independent of the code under test: they pack bytes with ``struct`` following the spec.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

# GGUF value type ids (spec 1.3)
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)


def gstr(s: str | bytes) -> bytes:
    raw = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str | bytes, vtype: int, payload: bytes) -> bytes:
    return gstr(key) + struct.pack("<i", vtype) + payload


def kv_u32(key: str, value: int) -> bytes:
    return kv(key, U32, struct.pack("<I", value))


def kv_str(key: str, value: str | bytes) -> bytes:
    return kv(key, STRING, gstr(value))


def kv_str_array(key: str, items: list[str]) -> bytes:
    return kv(key, ARRAY, struct.pack("<iQ", STRING, len(items)) + b"".join(gstr(s) for s in items))


def kv_f32_array(key: str, items: list[float]) -> bytes:
    return kv(key, ARRAY, struct.pack("<iQ", F32, len(items)) + struct.pack(f"<{len(items)}f", *items))


def tensor_info(name: str | bytes, dims: list[int], qtype: int, offset: int) -> bytes:
    return gstr(name) + struct.pack(f"<I{len(dims)}q", len(dims), *dims) + struct.pack("<iQ", qtype, offset)


def gguf_bytes(
    kvs: list[bytes], infos: list[bytes], data: bytes, *, magic: bytes = b"GGUF", version: int = 3,
    n_kv: int | None = None, n_tensors: int | None = None, alignment: int = 32,
) -> bytes:
    head = magic + struct.pack("<IQQ", version, len(infos) if n_tensors is None else n_tensors,
                               len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * (-len(head) % alignment)
    return head + data


A_VALUES = np.arange(8, dtype=np.float32).reshape(2, 4)  # GGUF ne [4, 2]
B_VALUES = np.linspace(-1, 1, 8, dtype=np.float32)  # GGUF ne [8]


def base_kvs() -> list[bytes]:
    return [
        kv_str("general.architecture", "llama"),
        kv_u32("llama.block_count", 2),
        kv_u32("llama.context_length", 4096),
        kv_str("tokenizer.ggml.model", "gpt2"),
        kv_str_array("tokenizer.ggml.tokens", ["a", "b", "<s>"]),
        kv_f32_array("tokenizer.ggml.scores", [0.0, -1.0, 0.5]),
    ]


def base_infos() -> list[bytes]:
    return [tensor_info("a", [4, 2], 0, 0), tensor_info("b", [8], 0, 32)]


def base_data() -> bytes:
    return A_VALUES.tobytes() + B_VALUES.tobytes()


def base_gguf(**overrides: Any) -> bytes:
    """A small valid GGUF: 6 KVs, F32 tensors a (ne [4, 2]) and b (ne [8]); override any part."""
    parts: dict[str, Any] = {"kvs": base_kvs(), "infos": base_infos(), "data": base_data()}
    parts.update({k: overrides.pop(k) for k in list(overrides) if k in parts})
    return gguf_bytes(parts["kvs"], parts["infos"], parts["data"], **overrides)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- safetensors -------------------------------------------------------------------------------------

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
             "I8": np.int8, "I16": np.int16, "BOOL": np.bool_}


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns by truncation (exact for values that fit in bfloat16)."""
    return (np.ascontiguousarray(values, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


def safetensors_bytes(header: Any, data: bytes, *, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def safetensors_from_arrays(
    tensors: dict[str, tuple[str, np.ndarray]], metadata: dict[str, str] | None = None
) -> bytes:
    """name -> (dtype name, array of raw values) packed in the given order."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata is not None else {}
    blobs, pos = [], 0
    for name, (dtype, arr) in tensors.items():
        blob = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    return safetensors_bytes(header, b"".join(blobs))


def tiny_llama_tensors(n_layers: int = 2, dim: int = 8, vocab: int = 16) -> dict[str, tuple[str, np.ndarray]]:
    """A llama-shaped set of BF16 weights (random values) plus one F32 norm, for HF folder tests."""
    rng = np.random.default_rng(0)
    out: dict[str, tuple[str, np.ndarray]] = {
        "model.embed_tokens.weight": ("BF16", bf16_bits(rng.standard_normal((vocab, dim)))),
    }
    for i in range(n_layers):
        out[f"model.layers.{i}.self_attn.q_proj.weight"] = ("BF16", bf16_bits(rng.standard_normal((dim, dim))))
        out[f"model.layers.{i}.input_layernorm.weight"] = ("F32", np.ones(dim, dtype=np.float32))
    out["lm_head.weight"] = ("BF16", bf16_bits(rng.standard_normal((vocab, dim))))
    return out
