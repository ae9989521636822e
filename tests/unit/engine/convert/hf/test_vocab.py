"""Vocabulary export: SentencePiece (generic and Phi-3 variants) and GPT-2 style BPE."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from engine.convert.hf import vocab_bpe
from engine.convert.hf.spm import BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED
from engine.convert.hf.vocab_bpe import bpe_vocab, pre_tokenizer_name
from engine.convert.hf.vocab_spm import looks_special, phi3_vocab, spm_vocab
from engine.errors import CorruptInputError, UnsupportedInputError
from tests.unit.engine.convert.hf.checkpoints import BPE_DIR

PIECES = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("<0x41>", 0.0, BYTE), ("\u2581the", -1.5, NORMAL),
          ("<user>", 0.0, USER_DEFINED), ("old", -9.0, UNUSED)]


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return bytes([(number << 3) | wire]) + payload


def _len(number: int, data: bytes) -> bytes:
    return _field(number, 2, bytes([len(data)]) + data)


def _spm_bytes() -> bytes:
    out = b""
    for piece, score, kind in PIECES:
        body = _len(1, piece.encode()) + _field(2, 5, struct.pack("<f", score)) + _field(3, 0, bytes([kind]))
        out += _len(1, body)
    return out


@pytest.fixture
def spm_folder(tmp_path: Path) -> Path:
    (tmp_path / "tokenizer.model").write_bytes(_spm_bytes())
    return tmp_path


def test_spm_types_scores_and_padding(spm_folder: Path) -> None:
    vocab = spm_vocab(spm_folder, 8)
    assert vocab.tokens == ["<unk>", "<s>", "<0x41>", "\u2581the", "<user>", "old", "[PAD6]", "[PAD7]"]
    assert vocab.types == [UNKNOWN, CONTROL, BYTE, NORMAL, NORMAL, UNUSED, UNUSED, UNUSED]  # user-defined -> normal
    assert vocab.scores == [0.0, 0.0, 0.0, -1.5, 0.0, -9.0, -10000.0, -10000.0]


def test_spm_added_tokens(spm_folder: Path) -> None:
    (spm_folder / "added_tokens.json").write_text(json.dumps({"<extra>": 6, "<far>": 99}))
    decoder = {"7": {"content": "<|im_end|>", "special": False}, "5": {"content": "\u2581a\u2581b", "special": False},
               "4": {"content": "<tool>", "special": True}, "100": {"content": "<x>", "special": True}}
    (spm_folder / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": decoder}))
    vocab = spm_vocab(spm_folder, 8)
    assert vocab.tokens[4:] == ["<tool>", " a b", "<extra>", "<|im_end|>"]
    assert vocab.types[4:] == [CONTROL, USER_DEFINED, USER_DEFINED, CONTROL]
    assert vocab.scores[4:] == [-1000.0] * 4


def test_spm_pads_to_model_size_without_config(spm_folder: Path) -> None:
    assert len(spm_vocab(spm_folder, None).tokens) == len(PIECES)


def test_phi3_added_tokens_follow_the_special_flag_only(spm_folder: Path) -> None:
    decoder = {"6": {"content": "<|assistant|>", "special": False}, "7": {"content": "<|end|>", "special": True}}
    (spm_folder / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": decoder}))
    (spm_folder / "tokenizer.json").write_text(json.dumps({"added_tokens": [{"id": 5, "content": "\u2581x"}]}))
    vocab = phi3_vocab(spm_folder, 8)
    assert vocab.tokens[5:] == ["\u2581x", "<|assistant|>", "<|end|>"]
    assert vocab.types[5:] == [USER_DEFINED, USER_DEFINED, CONTROL]


def test_phi3_out_of_range_added_token_is_corrupt(spm_folder: Path) -> None:
    decoder = {"9": {"content": "<x>", "special": True}}
    (spm_folder / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": decoder}))
    with pytest.raises(CorruptInputError, match="outside the vocabulary"):
        phi3_vocab(spm_folder, 8)


@pytest.mark.parametrize("token, special", [("<|x|>", True), ("<unused12>", True), ("<mask>", True),
                                            ("<\uff5cbegin\uff5c>", True), ("<start_of_turn>", False), ("|>", False)])
def test_looks_special(token: str, special: bool) -> None:
    assert looks_special(token) is special


def _small_bpe(folder: Path) -> None:
    from tokenizers import AddedToken, Tokenizer
    from tokenizers.models import BPE
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    tok.pre_tokenizer = Whitespace()
    tok.add_tokens([AddedToken("<|s|>", special=True, normalized=False)])  # id 3
    tok.add_tokens([AddedToken("hi\u2581there", special=False, normalized=True)])  # id 4
    tok.save(str(folder / "tokenizer.json"))


def test_bpe_tokens_types_and_gaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_bpe(tmp_path)
    monkeypatch.setattr(vocab_bpe, "pre_tokenizer_name", lambda tok: "test-pre")
    vocab = bpe_vocab(tmp_path, 8)
    assert vocab.pre == "test-pre"
    assert vocab.tokens == ["a", "b", "ab", "<|s|>", "hi there", "[PAD5]", "[PAD6]", "[PAD7]"]
    assert vocab.types == [NORMAL, NORMAL, NORMAL, CONTROL, USER_DEFINED, UNUSED, UNUSED, UNUSED]


def test_bpe_ids_beyond_config_vocabulary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_bpe(tmp_path)
    monkeypatch.setattr(vocab_bpe, "pre_tokenizer_name", lambda tok: "test-pre")
    with pytest.raises(CorruptInputError, match="token ids up to 4"):
        bpe_vocab(tmp_path, 4)


def test_unknown_pre_tokenizer_is_refused(tmp_path: Path) -> None:
    _small_bpe(tmp_path)
    with pytest.raises(UnsupportedInputError, match="pre-tokenizer"):
        bpe_vocab(tmp_path, 8)


def test_known_pre_tokenizer_is_identified() -> None:
    assert pre_tokenizer_name(vocab_bpe.load_tokenizer(BPE_DIR)) == "smollm"


def test_damaged_tokenizer_json(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "Nope"}}')
    with pytest.raises(CorruptInputError, match="cannot be loaded"):
        vocab_bpe.load_tokenizer(tmp_path)
