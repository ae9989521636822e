"""The output tensor list: checkpoint tensors in the converter's order, renamed, typed and edited.

llama.cpp's converter walks shards in file-name order and, inside a shard, tensor names in sorted order
(the safetensors library's order); generated tensors (rope factors) come first. Each tensor gets its GGUF
name, its GGUF shape (row length first) and its output type: F32 for vectors, norms and the few tensors
llama.cpp keeps in F32, the chosen output type for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from math import prod
from typing import Any

import numpy as np
from gguf import TensorNameMap

from engine.convert.hf.archs import ArchSpec
from engine.convert.hf.hparams import find
from engine.convert.hf.rows import RowSource, check_dtype
from engine.convert.source import SourceTensor
from engine.errors import UnsupportedInputError
from engine.formats.ggml_types import GGMLType
from engine.formats.safetensors import SafetensorInfo, SafetensorsFile

# Names the converter's text models never convert (vision/audio towers and projectors of multimodal models).
_SKIP_PREFIXES = ("mlp", "vit.", "vpm.", "siglip2.", "conformer.", "merger.", "resampler.", "sound_encoder.",
                  "sound_projection.", "speech_embeddings.")
_SKIP_PARTS = ("visual.", "vision.", "audio.", "talker.", "vision_", "audio_", "token2wav.", "code2wav.",
               "projector.", "pre_mm_projector_norm", "image_newline", "view_seperator", "patch_embed",
               "patch_embedding", "patch_merger.", "patch_merge_mlp.", "model.connector.")
_DROPPED_SUFFIXES = (".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq")
_KEEP_F32 = ("ffn_gate_inp", "ffn_gate_inp_shexp")


@dataclass(frozen=True, slots=True)
class CheckpointTensor:
    """One checkpoint tensor under the name the converter uses for it."""

    name: str
    file: SafetensorsFile
    info: SafetensorInfo


def converter_name(spec: ArchSpec, name: str) -> str | None:
    """The name the converter indexes a checkpoint tensor under, or None when it leaves it out."""
    if spec.drop_lm_head and name == "lm_head.weight":
        return None
    if spec.family == "llama":
        name = name.replace("text_model.", "")
    if name.startswith(_SKIP_PREFIXES) or any(part in name for part in _SKIP_PARTS):
        return None
    if name.endswith("e_score_correction_bias"):
        name = name.replace("e_score_correction_bias", "e_score_correction.bias")
    return name.replace("language_model.", "")


def checkpoint_order(spec: ArchSpec, files: Sequence[SafetensorsFile]) -> list[CheckpointTensor]:
    """Kept tensors in the converter's order: files by name, tensor names sorted within each file."""
    indexed: dict[str, CheckpointTensor] = {}
    for f in sorted(files, key=lambda f: f.path.name):
        for info in sorted(f.tensors, key=lambda t: t.name):
            name = converter_name(spec, info.name)
            if name is not None:
                indexed[name] = CheckpointTensor(name, f, info)
    return list(indexed.values())


def auto_outtype(tensors: Sequence[CheckpointTensor]) -> GGMLType:
    """llama.cpp's ``--outtype auto``: the first BF16 or F16 matrix decides; F16 when there is none."""
    for t in tensors:
        if len(t.info.shape) >= 2 and t.info.dtype in ("BF16", "F16"):
            return GGMLType.BF16 if t.info.dtype == "BF16" else GGMLType.F16
    return GGMLType.F16


def output_type(name: str, n_dims: int, outtype: GGMLType) -> GGMLType:
    """F32 for vectors, norms, router and non-weight tensors; the output type otherwise."""
    if n_dims <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return GGMLType.F32
    base = name.removesuffix(".weight").split(".")[-1]
    if base in _KEEP_F32 or name in ("position_embd.weight", "token_types.weight"):
        return GGMLType.F32
    return outtype


def generated_tensor(name: str, values: np.ndarray) -> SourceTensor:
    """A tensor the converter computes (rope factors): F32, one row."""
    row = np.ascontiguousarray(values, dtype=np.float32).reshape(1, -1)

    def read(start: int, stop: int) -> np.ndarray:
        return row[start:stop].copy()

    return SourceTensor(name, (row.shape[1],), GGMLType.F32, read)


@dataclass(frozen=True, slots=True)
class TensorContext:
    """What mapping and editing the checkpoint's tensors needs."""

    spec: ArchSpec
    hp: Mapping[str, Any]
    name_map: TensorNameMap
    outtype: GGMLType
    fds: Mapping[str, int]
    vocab_rows: Callable[[], int]


def source_tensor(ctx: TensorContext, t: CheckpointTensor) -> SourceTensor | None:
    """The output tensor for one checkpoint tensor (None for tensors the converter drops)."""
    name = t.name
    if name.endswith(_DROPPED_SUFFIXES):
        return None
    if "block_sparse_moe.experts" in name or ".experts." in name:
        raise UnsupportedInputError(f"Tensor {name} belongs to a mixture-of-experts layer, which is not supported.",
                                    "Quantpick converts dense models only.")
    new_name = ctx.name_map.get_name(name, try_suffixes=(".weight", ".bias"))
    if new_name is None:
        raise UnsupportedInputError(
            f"Quantpick does not know where tensor {name} goes in a {ctx.spec.gguf_arch} GGUF file.",
            "The checkpoint has tensors its architecture does not have; it may be a modified model.",
        )
    check_dtype(name, t.info.dtype)
    shape = t.info.shape or (1,)
    n_rows, row_len = (prod(shape[:-1]), shape[-1])
    if ctx.spec.truncate_embed and "embed_tokens.weight" in name:
        n_rows = min(n_rows, ctx.vocab_rows())
        shape = (n_rows, *shape[1:])
    rows = RowSource(
        fd=ctx.fds[str(t.file.path)], offset=t.file.data_offset + t.info.start, dtype=t.info.dtype,
        row_len=row_len, n_rows=n_rows, n_heads=_rotary_heads(ctx, name),
        shift=ctx.spec.norm_shift and name.endswith("norm.weight"),
    )
    qtype = output_type(new_name, len(shape), ctx.outtype)
    stored = partial(RowSource.read_stored, rows) if rows.stored_type is not None else None
    return SourceTensor(new_name, tuple(reversed(shape)), qtype, partial(RowSource.read, rows),
                        read_stored=stored, stored_type=rows.stored_type)


def _rotary_heads(ctx: TensorContext, name: str) -> int:
    """Heads to permute over for llama's q/k projections (0: no permutation)."""
    if not ctx.spec.permute_qk:
        return 0
    n_head = find(ctx.hp, ("n_heads", "num_attention_heads"))
    n_kv = find(ctx.hp, ("n_kv_heads", "num_key_value_heads"))
    if name.endswith(("q_proj.weight", "q_proj.bias")):
        return int(n_head)
    if name.endswith(("k_proj.weight", "k_proj.bias")):
        return int(n_kv if n_kv is not None and n_kv != n_head else n_head)
    return 0
