"""Rebuild a Hugging Face model folder from a GGUF file, so a real model can go through ``quantpick convert``.

Real small models mostly ship as quantized GGUFs. To prove that our Hugging Face path writes files llama.cpp
loads for a *real* checkpoint, we turn such a GGUF back into what it was converted from: every tensor
dequantized by our own kernels and written as safetensors under its Hugging Face name, llama's q/k rows
put back in Hugging Face's rotary order (the inverse of quant-spec 6.3), ``config.json`` from the GGUF
metadata, and the tokenizer files copied from a folder with the same tokenizer (a GGUF keeps the vocabulary
but not the ``tokenizer.json`` that built it).

    python -m bench.gguf_to_hf MODEL.gguf OUT_DIR --tokenizer-from DIR [--dtype F32|F16|BF16]

Only what can be rebuilt exactly is accepted: llama (Llama, Mistral, SmolLM), Qwen2 and Qwen3 files whose
metadata this module understands key by key. Anything else (Gemma's shifted norms, Phi-3's fused tensors,
Llama 3's generated ``rope_freqs``, an unknown hyper-parameter) stops with a message naming it, rather than
writing a folder that would convert into a different model. A test tool, not product code.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import QuantpickError, UnsupportedArchitectureError, UnsupportedInputError, UsageError
from engine.formats.gguf_read import GGUFFile, GGUFTensorInfo, read_gguf
from engine.quant import dequantize, quantize


@dataclass(frozen=True, slots=True)
class ArchOut:
    """How one GGUF architecture maps back to a Hugging Face model class.

    Attributes:
        hf_class: ``architectures[0]`` of the rebuilt ``config.json``.
        model_type: ``model_type`` of the rebuilt ``config.json``.
        unpermute_qk: Undo llama.cpp's rotary reordering of the q/k rows (llama only).
    """

    hf_class: str
    model_type: str
    unpermute_qk: bool = False


ARCHS: Mapping[str, ArchOut] = {
    "llama": ArchOut("LlamaForCausalLM", "llama", unpermute_qk=True),
    "qwen2": ArchOut("Qwen2ForCausalLM", "qwen2"),
    "qwen3": ArchOut("Qwen3ForCausalLM", "qwen3"),
}

_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
_BLOCK_RE = re.compile(r"blk\.(\d+)\.([a-z_]+)\.(weight|bias)")
_TOP_RE = re.compile(r"([a-z_]+)\.(weight|bias)")

# GGUF architecture key (after "<arch>.") -> config.json key, for plain values.
_CONFIG_KEYS = {
    "block_count": "num_hidden_layers", "context_length": "max_position_embeddings",
    "embedding_length": "hidden_size", "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads", "attention.head_count_kv": "num_key_value_heads",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps", "rope.freq_base": "rope_theta",
    "attention.key_length": "head_dim",
}
# Keys that are read but need no config entry of their own (checked for consistency instead).
_DERIVED_KEYS = ("vocab_size", "rope.dimension_count", "attention.value_length")
_ROPE_SCALING_KEYS = ("rope.scaling.type", "rope.scaling.factor", "rope.scaling.original_context_length")
_SPECIAL_IDS = {"bos": "bos_token_id", "eos": "eos_token_id", "padding": "pad_token_id"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "chat_template.jinja", "chat_template.json")
# safetensors dtype -> bytes per value
DTYPES = {"F32": 4, "F16": 2, "BF16": 2}
_NO_GUESS = "This GGUF cannot be turned back into a Hugging Face folder exactly; use another model."
_TORCH_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


@dataclass(frozen=True, slots=True)
class RebuiltFolder:
    """What ``rebuild_hf_folder`` wrote.

    Attributes:
        path: The model folder.
        arch: ``general.architecture`` of the source GGUF.
        n_tensors: Tensors in ``model.safetensors``.
        dtype: Their safetensors dtype.
        tokenizer_files: Tokenizer files copied in.
    """

    path: Path
    arch: str
    n_tensors: int
    dtype: str
    tokenizer_files: tuple[str, ...]


def hf_name(gguf_name: str) -> str:
    """The Hugging Face name of a GGUF tensor (``blk.3.attn_q.weight`` -> ``model.layers.3.self_attn.q_proj.weight``).

    Raises:
        UnsupportedInputError: the tensor has no Hugging Face counterpart here (e.g. generated ``rope_freqs``).
    """
    block = _BLOCK_RE.fullmatch(gguf_name)
    if block and block.group(2) in _BLOCK_NAMES:
        return f"model.layers.{block.group(1)}.{_BLOCK_NAMES[block.group(2)]}.{block.group(3)}"
    top = _TOP_RE.fullmatch(gguf_name)
    if top and top.group(1) in _TOP_NAMES:
        return f"{_TOP_NAMES[top.group(1)]}.{top.group(2)}"
    raise UnsupportedInputError(
        f"The GGUF tensor {gguf_name} has no Hugging Face counterpart that can be rebuilt.",
        "Only plain llama, Qwen2 and Qwen3 tensors are rebuilt (no generated rope_freqs, no fused tensors).",
    )


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of the converter's q/k reordering: llama.cpp row ``h*hd + 2i + s`` back to ``h*hd + s*hd/2 + i``.

    Works on weights (rows, cols) and biases (rows,) alike; columns never move.
    """
    rows = w.shape[0]
    head_dim = rows // n_head
    if n_head <= 0 or rows % n_head or head_dim % 2:
        raise UnsupportedInputError(f"{rows} q/k rows do not split into {n_head} heads of an even size.",
                                    "The GGUF's head counts do not match its q/k tensors.")
    tail = w.shape[1:]
    return w.reshape(n_head, head_dim // 2, 2, *tail).swapaxes(1, 2).reshape(w.shape)


def float_values(gguf_file: GGUFFile, info: GGUFTensorInfo) -> np.ndarray:
    """A tensor as float32 in numpy order (rows, row length), dequantized by our own kernels."""
    rows = dequantize(np.asarray(gguf_file.raw(info.name)), info.qtype, info.shape[0])
    return np.asarray(rows, dtype=np.float32).reshape(info.numpy_shape)


def encode(values: np.ndarray, dtype: str) -> bytes:
    """float32 values as safetensors bytes of ``dtype`` (BF16 rounds to nearest even, as torch does)."""
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(1, -1)
    if dtype == "F32":
        return flat.tobytes()
    if dtype == "F16":
        return flat.astype("<f2").tobytes()
    return np.asarray(quantize(flat, "BF16")).tobytes()


def hf_config(gguf_file: GGUFFile, *, dtype: str = "F32") -> dict[str, Any]:
    """``config.json`` for the model a GGUF was converted from, built from its metadata key by key.

    Raises:
        UnsupportedArchitectureError: the architecture is not one that can be rebuilt.
        UnsupportedInputError: an architecture key that this function does not understand, or values that
            disagree with each other.
    """
    arch = str(gguf_file.get("general.architecture"))
    spec = ARCHS.get(arch)
    if spec is None:
        raise UnsupportedArchitectureError(
            f"A GGUF of architecture {arch!r} cannot be rebuilt into a Hugging Face folder.",
            f"Rebuildable architectures: {', '.join(ARCHS)}.",
        )
    keys = {k[len(arch) + 1:]: v for k, v in gguf_file.metadata.items() if k.startswith(arch + ".")}
    unknown = sorted(set(keys) - set(_CONFIG_KEYS) - set(_DERIVED_KEYS) - set(_ROPE_SCALING_KEYS))
    if unknown:
        raise UnsupportedInputError(f"Cannot rebuild the metadata keys {', '.join(f'{arch}.{k}' for k in unknown)}.",
                                    "Rebuild a model without them; guessing their config.json form could change it.")
    config: dict[str, Any] = {"architectures": [spec.hf_class], "model_type": spec.model_type}
    for key, hf_key in _CONFIG_KEYS.items():
        if key in keys:
            config[hf_key] = _plain(keys[key])
    config["vocab_size"] = gguf_file.tensor("token_embd.weight").shape[1]
    config["tie_word_embeddings"] = not any(t.name == "output.weight" for t in gguf_file.tensors)
    config["torch_dtype"] = _TORCH_DTYPES[dtype]
    config.update(_rope_scaling(keys))
    for name, hf_key in _SPECIAL_IDS.items():
        token_id = gguf_file.get(f"tokenizer.ggml.{name}_token_id")
        if token_id is not None:
            config[hf_key] = int(token_id)
    _check_consistent(keys, config)
    return config


def _plain(value: Any) -> Any:
    """A GGUF number as JSON writes it; float32 values get their shortest round-tripping decimal (1e-05)."""
    if isinstance(value, float):
        return float(str(np.float32(value)))
    return value


def _rope_scaling(keys: Mapping[str, Any]) -> dict[str, Any]:
    kind = keys.get("rope.scaling.type")
    if kind is None:
        if any(k in keys for k in _ROPE_SCALING_KEYS):
            raise UnsupportedInputError("The GGUF has rope scaling values but no rope.scaling.type.", _NO_GUESS)
        return {}
    if kind not in ("linear", "yarn"):
        raise UnsupportedInputError(f"Rope scaling of type {kind!r} cannot be rebuilt (linear and yarn can).",
                                    _NO_GUESS)
    scaling: dict[str, Any] = {"type": kind, "factor": _plain(keys["rope.scaling.factor"])}
    if "rope.scaling.original_context_length" in keys:
        scaling["original_max_position_embeddings"] = keys["rope.scaling.original_context_length"]
    return {"rope_scaling": scaling}


def _check_consistent(keys: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Keys the converter derives must agree with what the rebuilt config makes them."""
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    expected = {"vocab_size": config["vocab_size"], "rope.dimension_count": head_dim,
                "attention.value_length": head_dim}
    for key, value in expected.items():
        if key in keys and keys[key] != value:
            raise UnsupportedInputError(f"The GGUF gives {key} = {keys[key]}, but the rebuilt model has {value}.",
                                        _NO_GUESS)


def tensor_plan(gguf_file: GGUFFile) -> list[tuple[str, GGUFTensorInfo]]:
    """(Hugging Face name, GGUF tensor) pairs in Hugging Face name order, as ``save_file`` would list them."""
    pairs = [(hf_name(t.name), t) for t in gguf_file.tensors]
    return sorted(pairs, key=lambda pair: pair[0])


def hf_values(gguf_file: GGUFFile, info: GGUFTensorInfo, config: Mapping[str, Any]) -> np.ndarray:
    """One tensor's values as the Hugging Face checkpoint held them (q/k rows un-permuted for llama)."""
    values = float_values(gguf_file, info)
    if not ARCHS[str(gguf_file.get("general.architecture"))].unpermute_qk:
        return values
    kind = info.name.split(".")[2] if info.name.startswith("blk.") else ""
    if kind == "attn_q":
        return unpermute_rows(values, config["num_attention_heads"])
    if kind == "attn_k":
        return unpermute_rows(values, config.get("num_key_value_heads") or config["num_attention_heads"])
    return values


def write_safetensors(path: Path, entries: Iterable[tuple[str, tuple[int, ...]]], dtype: str,
                      chunks: Iterable[bytes]) -> int:
    """Stream a safetensors file: the header from names and shapes, then each tensor's bytes in that order.

    Args:
        path: File to write.
        entries: (name, numpy shape) of every tensor, in file order.
        dtype: ``F32``, ``F16`` or ``BF16`` for all of them.
        chunks: The tensors' bytes, one item per entry, in the same order.

    Returns:
        The number of tensors written.
    """
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    sizes = []
    for name, shape in entries:
        nbytes = DTYPES[dtype] * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        sizes.append((name, nbytes))
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        written = 0
        for (name, nbytes), data in zip(sizes, chunks, strict=True):
            if len(data) != nbytes:
                raise UsageError(f"{name}: {len(data)} bytes given for a {nbytes}-byte tensor.")
            fh.write(data)
            written += 1
    return written


def tokenizer_files(source: Path) -> tuple[str, ...]:
    """The tokenizer files in ``source``; at least one of them must define a vocabulary."""
    found = tuple(name for name in TOKENIZER_FILES if (source / name).is_file())
    if not {"tokenizer.json", "tokenizer.model"} & set(found):
        raise UsageError(f"{source} has neither tokenizer.json nor tokenizer.model.",
                         "Point --tokenizer-from at the original model's folder.")
    return found


def rebuild_hf_folder(gguf_path: Path, out_dir: Path, *, tokenizer_from: Path, dtype: str = "F32") -> RebuiltFolder:
    """Write ``out_dir`` (config.json, model.safetensors, tokenizer files) from a GGUF file.

    Args:
        gguf_path: A single-file GGUF of a rebuildable architecture, in any tensor type we dequantize.
        out_dir: Folder to create; it must not exist or be empty.
        tokenizer_from: Folder holding the model's tokenizer files.
        dtype: safetensors dtype of the weights (F32 keeps dequantized values exactly).

    Raises:
        UsageError: bad arguments (unknown dtype, non-empty target, no tokenizer in ``tokenizer_from``).
        UnsupportedArchitectureError, UnsupportedInputError: the GGUF cannot be rebuilt exactly.
    """
    if dtype not in DTYPES:
        raise UsageError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UsageError(f"{out_dir} is not empty.", "Give a new folder for the rebuilt model.")
    gguf_file = read_gguf(gguf_path)
    config = hf_config(gguf_file, dtype=dtype)
    plan = tensor_plan(gguf_file)
    tokenizer = tokenizer_files(tokenizer_from)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in tokenizer:
        shutil.copy(tokenizer_from / name, out_dir / name)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    entries = [(name, info.numpy_shape) for name, info in plan]
    chunks = (encode(hf_values(gguf_file, info, config), dtype) for _, info in plan)
    n_tensors = write_safetensors(out_dir / "model.safetensors", entries, dtype, chunks)
    return RebuiltFolder(out_dir, str(gguf_file.get("general.architecture")), n_tensors, dtype, tokenizer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gguf_to_hf", description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path, help="the GGUF file to rebuild from")
    parser.add_argument("out_dir", type=Path, help="new folder for the Hugging Face model")
    parser.add_argument("--tokenizer-from", type=Path, required=True,
                        help="folder with the model's tokenizer.json / tokenizer.model and tokenizer_config.json")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="F32", help="safetensors dtype (default F32)")
    args = parser.parse_args(argv)
    try:
        done = rebuild_hf_folder(args.gguf, args.out_dir, tokenizer_from=args.tokenizer_from, dtype=args.dtype)
    except QuantpickError as e:
        print(f"gguf_to_hf: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {done.path}: {done.arch}, {done.n_tensors} tensors as {done.dtype}, "
          f"tokenizer files {', '.join(done.tokenizer_files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
