"""Tokenizer export: which vocabulary each model family writes, and in what key order."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gguf import GGUFWriter

from engine.convert.hf.jsonfile import read_json
from engine.convert.hf.special import load_special_vocab
from engine.convert.hf.vocab_bpe import bpe_vocab
from engine.convert.hf.vocab_spm import SpmVocab, phi3_vocab, spm_vocab
from engine.errors import UnsupportedInputError

# Code Llama's infill tokens (its 32016-token vocabulary) and the Granite/SmolLM vocabulary size.
_CODELLAMA_VOCAB, _CODELLAMA_IDS = 32016, {"prefix": 32007, "suffix": 32008, "middle": 32009, "eot": 32010}
_NO_BOS_VOCAB = 49152


def spm_vocab_size(hp: Mapping[str, Any]) -> int | None:
    """The vocabulary size the SentencePiece export pads to (None: the model file's own size)."""
    return hp.get("vocab_size_per_layer_input", hp.get("vocab_size")) or None


def _write_spm(writer: GGUFWriter, folder: Path, vocab: SpmVocab) -> None:
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    load_special_vocab(folder, n_vocab=len(vocab.tokens)).add_to(writer)


def _write_bpe(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> None:
    vocab = bpe_vocab(folder, hp.get("vocab_size"))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    load_special_vocab(folder, load_merges=True).add_to(writer)


def _spm_or_bpe(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> bool:
    """SentencePiece when tokenizer.model exists, else BPE; True when SentencePiece was written."""
    if (folder / "tokenizer.model").is_file():
        _write_spm(writer, folder, spm_vocab(folder, spm_vocab_size(hp)))
        return True
    _write_bpe(writer, folder, hp)
    return False


def _is_spm_style_json(folder: Path) -> bool:
    """A tokenizer.json that is a SentencePiece model in BPE form (llama.cpp needs transformers for it)."""
    data = read_json(folder / "tokenizer.json")
    data = data if isinstance(data, dict) else {}  # anything else is refused when the tokenizer is loaded
    model, decoder = data.get("model"), data.get("decoder")
    model, decoder = model if isinstance(model, dict) else {}, decoder if isinstance(decoder, dict) else {}
    llama3 = model.get("type") == "BPE" and model.get("ignore_merges", False) and not model.get("byte_fallback", True)
    return (not llama3 and model.get("type") == "BPE" and bool(model.get("byte_fallback", False))
            and decoder.get("type") == "Sequence")


def _llama(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> None:
    config = read_json(folder / "tokenizer_config.json") or {}
    if (prefix := config.get("add_prefix_space")) is not None:
        writer.add_add_space_prefix(prefix)
    if not (folder / "tokenizer.model").is_file() and _is_spm_style_json(folder):
        raise UnsupportedInputError(
            f"{folder} has a SentencePiece tokenizer saved only as tokenizer.json, which Quantpick cannot export.",
            "Download tokenizer.model from the model's page into the folder and try again.",
        )
    _spm_or_bpe(writer, folder, hp)
    if hp.get("vocab_size", 32000) == _CODELLAMA_VOCAB:
        infill = load_special_vocab(folder, types=tuple(_CODELLAMA_IDS))
        for typ, tid in _CODELLAMA_IDS.items():
            infill.set_id(typ, tid)
        infill.add_to(writer)
    if hp.get("vocab_size", 32000) == _NO_BOS_VOCAB:
        writer.add_add_bos_token(False)


def _qwen(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> None:
    _spm_or_bpe(writer, folder, hp)


def _gemma2(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> None:
    _write_spm(writer, folder, spm_vocab(folder, spm_vocab_size(hp)))
    writer.add_add_space_prefix(False)


def _gemma3(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> None:
    if _spm_or_bpe(writer, folder, hp):
        writer.add_add_space_prefix(False)


def _phi3(writer: GGUFWriter, folder: Path, hp: Mapping[str, Any]) -> None:
    config = read_json(folder / "tokenizer_config.json") or {}
    if config.get("tokenizer_class") == "GPT2Tokenizer":
        _write_bpe(writer, folder, hp)
    else:
        _write_spm(writer, folder, phi3_vocab(folder, hp.get("vocab_size")))


WRITERS: dict[str, Callable[[GGUFWriter, Path, Mapping[str, Any]], None]] = {
    "llama": _llama, "qwen2": _qwen, "qwen3": _qwen, "gemma2": _gemma2, "gemma3": _gemma3, "phi3": _phi3,
}


def write_vocab(writer: GGUFWriter, family: str, folder: Path, hp: Mapping[str, Any]) -> None:
    """Append the tokenizer keys for a model of ``family`` to ``writer``."""
    WRITERS[family](writer, folder, hp)
