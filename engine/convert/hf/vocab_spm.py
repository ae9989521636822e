"""SentencePiece vocabularies (``tokenizer.model``) as llama.cpp's converter exports them.

Ids the model reserves beyond the SentencePiece pieces become ``[PAD<i>]`` (score -10000, UNUSED); tokens
from ``added_tokens.json`` and ``tokenizer_config.json`` overwrite their ids with score -1000. Phi-3's
converter has its own variant: added tokens are CONTROL only when flagged special, and the entries of
``tokenizer.json`` count too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.convert.hf.jsonfile import read_json
from engine.convert.hf.spm import BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED, SentencePieceModel
from engine.errors import CorruptInputError, UnsupportedInputError

PAD_SCORE, ADDED_SCORE = -10000.0, -1000.0
# Pieces typed USER_DEFINED in the model file are exported as NORMAL: the converter only asks
# SentencePiece whether a piece is unknown, control, unused or byte.
_EXPORTED_TYPE = {UNKNOWN: UNKNOWN, CONTROL: CONTROL, UNUSED: UNUSED, BYTE: BYTE, NORMAL: NORMAL, USER_DEFINED: NORMAL}
_LOOKS_SPECIAL = frozenset({"<pad>", "<mask>", "<2mass>", "[@BOS@]"})


@dataclass(frozen=True, slots=True)
class SpmVocab:
    """Tokens, scores and GGUF token types, indexed by id."""

    tokens: list[str]
    scores: list[float]
    types: list[int]


def looks_special(token: str) -> bool:
    """Added tokens that some models forget to flag special but that act as control tokens."""
    return (
        token in _LOOKS_SPECIAL
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<\uff5c") and token.endswith("\uff5c>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


def load_model(folder: Path) -> SentencePieceModel:
    path = folder / "tokenizer.model"
    if not path.is_file():
        raise UnsupportedInputError(
            f"{folder} has no tokenizer.model, which this model's tokenizer needs.",
            "Download tokenizer.model from the model's page into the folder.",
        )
    return SentencePieceModel.from_file(path)


def _base(model: SentencePieceModel, vocab_size: int, *, strict: bool) -> SpmVocab:
    n = len(model.pieces)
    if strict and n > vocab_size:
        raise CorruptInputError(
            f"tokenizer.model has {n} pieces but config.json says the vocabulary has {vocab_size}.",
            "The tokenizer and the weights do not belong together; download both again.",
        )
    vocab = SpmVocab([f"[PAD{i}]" for i in range(vocab_size)], [PAD_SCORE] * vocab_size, [UNUSED] * vocab_size)
    for i in range(min(n, vocab_size)):
        vocab.tokens[i] = model.pieces[i]
        vocab.scores[i] = model.scores[i]
        vocab.types[i] = _EXPORTED_TYPE[model.types[i]]
    return vocab


def _put(vocab: SpmVocab, tid: int, token: str, kind: int, *, strict: bool) -> None:
    if not 0 <= tid < len(vocab.tokens):
        if strict:
            raise CorruptInputError(
                f"The tokenizer files give token {token!r} the id {tid}, outside the vocabulary of "
                f"{len(vocab.tokens)}.", "Download the tokenizer files again.",
            )
        return
    vocab.tokens[tid], vocab.scores[tid], vocab.types[tid] = token, ADDED_SCORE, kind


def _added_tokens_json(vocab: SpmVocab, folder: Path) -> None:
    for token, tid in (read_json(folder / "added_tokens.json") or {}).items():
        if isinstance(tid, int):
            _put(vocab, tid, token, USER_DEFINED, strict=False)


def _decoder(folder: Path) -> dict[str, Any]:
    config = read_json(folder / "tokenizer_config.json") or {}
    decoder = config.get("added_tokens_decoder", {})
    return decoder if isinstance(decoder, dict) else {}


def spm_vocab(folder: Path, vocab_size: int | None) -> SpmVocab:
    """The generic SentencePiece export (Llama, Mistral, Qwen2, Gemma)."""
    model = load_model(folder)
    vocab = _base(model, vocab_size or len(model.pieces), strict=False)
    _added_tokens_json(vocab, folder)
    for key, data in _decoder(folder).items():
        token = data["content"]
        if data.get("special") or looks_special(token):
            _put(vocab, int(key), token, CONTROL, strict=False)
        else:
            _put(vocab, int(key), token.replace("\u2581", " "), USER_DEFINED, strict=False)
    return vocab


def phi3_vocab(folder: Path, vocab_size: int | None) -> SpmVocab:
    """Phi-3's SentencePiece export."""
    model = load_model(folder)
    vocab = _base(model, vocab_size or len(model.pieces), strict=True)
    _added_tokens_json(vocab, folder)
    entries = [(int(k), v) for k, v in _decoder(folder).items()]
    tokenizer = read_json(folder / "tokenizer.json") or {}
    entries += [(int(e["id"]), e) for e in tokenizer.get("added_tokens", [])]
    for tid, data in entries:
        _put(vocab, tid, data["content"], CONTROL if data.get("special") else USER_DEFINED, strict=True)
    return vocab
