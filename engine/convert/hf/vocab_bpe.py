"""GPT-2 style BPE vocabularies (``tokenizer.json``) and the pre-tokenizer name llama.cpp needs.

llama.cpp cannot read a tokenizer's pre-tokenization rules, so its converter identifies them: it encodes
a fixed check text, hashes the token ids and looks the hash up in a table of known tokenizers
(``resources/bpe_pre_tokenizers.json``, extracted from llama.cpp). An unknown hash is an error there and
here, because a wrong guess would make the model read text differently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.convert.hf.jsonfile import read_json
from engine.convert.hf.spm import CONTROL, NORMAL, UNUSED, USER_DEFINED
from engine.convert.hf.vocab_spm import looks_special
from engine.errors import CorruptInputError, UnsupportedInputError
from engine.resources_path import resource_path

PRE_TOKENIZERS_PATH = resource_path("bpe_pre_tokenizers.json")
# transformers' clean_up_tokenization, applied when tokenizer_config asks for it.
_CLEANUPS = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
             (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


@dataclass(frozen=True, slots=True)
class BpeVocab:
    """Tokens and GGUF token types indexed by id, and the ``tokenizer.ggml.pre`` name."""

    tokens: list[str]
    types: list[int]
    pre: str


@lru_cache(maxsize=1)
def _pre_table() -> tuple[str, dict[str, str]]:
    data = json.loads(PRE_TOKENIZERS_PATH.read_text(encoding="utf-8"))
    return data["check_text"], data["hashes"]


def load_tokenizer(folder: Path) -> Any:
    """The folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer``."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise UnsupportedInputError(
            f"{folder} has neither tokenizer.model nor tokenizer.json, so its vocabulary cannot be exported.",
            "Download the tokenizer files from the model's page into the folder.",
        )
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises plain Exception subclasses
        raise CorruptInputError(f"tokenizer.json in {folder} cannot be loaded ({e}).") from e


def pre_tokenizer_name(tokenizer: Any) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer, identified by the hash of the check text's ids."""
    text, table = _pre_table()
    ids = tokenizer.encode(text).ids
    digest = hashlib.sha256(str(list(ids)).encode("utf-8")).hexdigest()
    name = table.get(digest)
    if name is None:
        raise UnsupportedInputError(
            f"This model's BPE pre-tokenizer is not one llama.cpp knows (check hash {digest}).",
            "llama.cpp could not run it correctly either; use a ready-made GGUF of this model.",
        )
    return name


def bpe_vocab(folder: Path, vocab_size: int | None) -> BpeVocab:
    """Tokens by id: gaps become ``[PAD<i>]`` (UNUSED); added tokens are CONTROL or USER_DEFINED."""
    tok = load_tokenizer(folder)
    vocab: dict[str, int] = tok.get_vocab(with_added_tokens=True)
    size = vocab_size if vocab_size is not None else len(vocab)
    if vocab and max(vocab.values()) >= size:
        raise CorruptInputError(
            f"tokenizer.json has token ids up to {max(vocab.values())}, but config.json says the vocabulary "
            f"has {size} tokens.", "The tokenizer and the weights do not belong together; download both again.",
        )
    pre = pre_tokenizer_name(tok)
    by_id = {i: t for t, i in vocab.items()}
    decoder = tok.get_added_tokens_decoder()
    added = {t.content: i for i, t in sorted(decoder.items())}
    cleanup = bool((read_json(folder / "tokenizer_config.json") or {}).get("clean_up_tokenization_spaces"))
    tokens: list[str] = []
    types: list[int] = []
    for i in range(size):
        token = by_id.get(i)
        kind = NORMAL
        if token is None:
            token, kind = f"[PAD{i}]", UNUSED
        elif token in added and (entry := decoder.get(i)) is not None:
            if not entry.normalized:
                token = _round_trip(tok, token, cleanup)
            if entry.special or looks_special(token):
                kind = CONTROL
            else:
                token, kind = token.replace("\u2581", " "), USER_DEFINED
        tokens.append(token)
        types.append(kind)
    return BpeVocab(tokens, types, pre)


def _round_trip(tok: Any, token: str, cleanup: bool) -> str:
    """Encode then decode a non-normalized added token, as the converter does to pre-normalize it."""
    text: str = tok.decode(tok.encode(token, add_special_tokens=False).ids, skip_special_tokens=False)
    if cleanup:
        for old, new in _CLEANUPS:
            text = text.replace(old, new)
    return text


def n_vocab_real(folder: Path) -> int:
    """Gemma 3's real vocabulary size from tokenizer.json: model vocabulary plus added tokens."""
    data = read_json(folder / "tokenizer.json") or {}
    return len(data.get("model", {}).get("vocab", {})) + len(data.get("added_tokens", []))
