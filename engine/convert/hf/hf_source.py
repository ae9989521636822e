"""A Hugging Face model folder as a conversion source: exactly what llama.cpp's converter would write.

The steps follow the converter's own order, because the order of the metadata keys depends on it:
generated tensors (which may add a key), the checkpoint's tensors, the ``general.*`` keys, the
architecture keys, the quantization version, and last the tokenizer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from gguf import GGUFWriter, LlamaFileType, TensorNameMap, get_tensor_name_map
from gguf.constants import MODEL_ARCH, MODEL_ARCH_NAMES

from engine.convert.hf import archs
from engine.convert.hf.generated import llama3_rope_freqs, phi3_rope_factors
from engine.convert.hf.hparams import converter_rope, find, load_hparams
from engine.convert.hf.kv import add_general, quiet_gguf, to_meta
from engine.convert.hf.params import WRITERS, pooling_type
from engine.convert.hf.tensors import (
    CheckpointTensor, TensorContext, auto_outtype, checkpoint_order, source_tensor,
)
from engine.convert.hf.vocab import spm_vocab_size, write_vocab
from engine.convert.hf.vocab_bpe import n_vocab_real
from engine.convert.hf.vocab_spm import load_model
from engine.convert.source import ConversionSource, SourceTensor
from engine.errors import CorruptInputError, UnsupportedArchitectureError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.formats.hf_folder import read_hf_folder
from engine.quant.rules import ModelFacts

FILE_TYPES = {GGMLType.F32: LlamaFileType.ALL_F32, GGMLType.F16: LlamaFileType.MOSTLY_F16,
              GGMLType.BF16: LlamaFileType.MOSTLY_BF16}
_LAYER_KEYS = ("n_layers", "num_hidden_layers", "n_layer", "num_layers")


def open_hf_source(folder: Path, *, outtype: GGMLType | None = None) -> ConversionSource:
    """Describe the GGUF file ``convert_hf_to_gguf.py --outtype <outtype>`` would write for ``folder``.

    Args:
        folder: A Hugging Face model folder (config.json, safetensors weights, tokenizer files).
        outtype: F32, F16 or BF16; None picks as llama.cpp's ``auto`` does (the checkpoint's own 16-bit type).

    Raises:
        UnsupportedArchitectureError: the model class is not one Quantpick converts.
        UnsupportedInputError: missing tokenizer files, an unknown BPE pre-tokenizer, or unsupported tensors.
        CorruptInputError: damaged or inconsistent files.
        UsageError: ``outtype`` is not F32, F16 or BF16.
    """
    folder = Path(folder).resolve()
    if outtype is not None and outtype not in FILE_TYPES:
        raise UsageError(f"A Hugging Face folder converts to F32, F16 or BF16 first, not {outtype.name}.")
    hf = read_hf_folder(folder)
    spec, config_class = archs.spec_for(hf.config)
    hp = load_hparams(hf.config, config_class)
    _refuse_reranker(spec, folder, hp)
    n_layer = find(hp, _LAYER_KEYS)
    if not isinstance(n_layer, int):
        raise CorruptInputError("config.json does not say how many layers the model has.")
    checkpoint = checkpoint_order(spec, hf.weights.files)
    chosen = outtype if outtype is not None else auto_outtype(checkpoint)
    fds = {str(f.path): os.open(f.path, os.O_RDONLY) for f in hf.weights.files}

    def close() -> None:
        for fd in fds.values():
            os.close(fd)

    try:
        with quiet_gguf():
            return _build(folder, spec, hp, n_layer, checkpoint, chosen, fds, close)
    except BaseException:
        close()
        raise


def _build(folder: Path, spec: archs.ArchSpec, hp: dict[str, Any], n_layer: int, checkpoint: list[CheckpointTensor],
           outtype: GGMLType, fds: dict[str, int], close: Callable[[], None]) -> ConversionSource:
    rope = converter_rope(hp)
    writer = GGUFWriter(path=None, arch=spec.gguf_arch)
    generated: list[SourceTensor] = []
    if spec.family == "llama":
        generated = llama3_rope_freqs(hp, rope)
    elif spec.family == "phi3":
        generated = phi3_rope_factors(writer, hp, rope)
    ctx = TensorContext(spec, hp, _name_map(spec, n_layer), outtype, fds, partial(_vocab_rows, folder, hp))
    mapped = (source_tensor(ctx, t) for t in checkpoint)
    tensors = tuple(generated) + tuple(t for t in mapped if t is not None)
    meta = add_general(writer, folder, tensors)
    WRITERS[spec.family](writer, hp, rope, n_layer, FILE_TYPES[outtype])
    if spec.family in ("qwen2", "qwen3") and (pooling := pooling_type(folder)) is not None:
        writer.add_pooling_type(pooling)
    writer.add_quantization_version(2)
    write_vocab(writer, spec.family, folder, hp)
    metadata = to_meta(writer)
    values = {key: mv.value for key, mv in metadata}
    return ConversionSource(
        kind="hf",
        label=folder.name,
        model_name=meta.basename or meta.name or folder.name,
        size_label=meta.size_label or "",
        metadata=metadata,
        tensors=tensors,
        facts=ModelFacts.from_gguf_metadata(values),
        close=close,
    )


def _name_map(spec: archs.ArchSpec, n_layer: int) -> TensorNameMap:
    arch = next(a for a, name in MODEL_ARCH_NAMES.items() if name == spec.gguf_arch)
    return get_tensor_name_map(MODEL_ARCH(arch), n_layer)


def _vocab_rows(folder: Path, hp: dict[str, Any]) -> int:
    """Gemma 3 keeps as many embedding rows as its tokenizer has tokens."""
    if (folder / "tokenizer.model").is_file():
        return spm_vocab_size(hp) or len(load_model(folder).pieces)
    return n_vocab_real(folder)


def _refuse_reranker(spec: archs.ArchSpec, folder: Path, hp: dict[str, Any]) -> None:
    """Qwen3 rerankers get extra outputs and keys from the converter; Quantpick does not make those."""
    if spec.family != "qwen3":
        return
    readme = folder / "README.md"
    text = readme.read_text(encoding="utf-8", errors="replace").lower() if readme.is_file() else ""
    hints = [folder.name, str(hp.get("_name_or_path", "")), str(hp.get("model_type", ""))]
    if "# qwen3-reranker" in text or any("qwen3-reranker" in h.lower() for h in hints):
        raise UnsupportedArchitectureError(
            "This is a Qwen3 reranker, which Quantpick does not convert (it needs extra outputs).",
            "Use a ready-made GGUF of this reranker.",
        )
