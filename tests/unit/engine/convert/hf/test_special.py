"""Special tokens, add-BOS/EOS flags, merges, normaliser flags and chat templates from a model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFWriter

from engine.convert.hf.kv import to_meta
from engine.convert.hf.special import load_special_vocab
from engine.errors import CorruptInputError

ADDED = [{"id": 0, "content": "<unk>"}, {"id": 1, "content": "<s>"}, {"id": 2, "content": "</s>"},
         {"id": 3, "content": "<|eot|>"}, {"id": 4, "content": "<sep>"}]


def _folder(tmp_path: Path, tokenizer: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
            model_config: dict[str, Any] | None = None) -> Path:
    if tokenizer is not None:
        (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": ADDED, **tokenizer}))
    if config is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    if model_config is not None:
        (tmp_path / "config.json").write_text(json.dumps(model_config))
    return tmp_path


def _template(*single: str, pair: tuple[str, ...] = ()) -> dict[str, Any]:
    def item(x: str) -> dict[str, Any]:
        return {"Sequence": {"id": x}} if x in ("A", "B") else {"SpecialToken": {"id": x}}
    return {"type": "TemplateProcessing", "single": [item(x) for x in single], "pair": [item(x) for x in pair]}


def test_byte_level_post_processor_means_no_bos_no_eos(tmp_path: Path) -> None:
    sv = load_special_vocab(_folder(tmp_path, {"post_processor": {"type": "ByteLevel"}}, {"bos_token": "<s>"}))
    assert sv.add == {"bos": False, "eos": False}
    assert sv.ids == {"bos": 1}


def test_template_with_leading_bos(tmp_path: Path) -> None:
    tok = {"post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"}, _template("<s>", "A")]}}
    sv = load_special_vocab(_folder(tmp_path, tok, {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": False}))
    assert sv.add == {"bos": True, "eos": False}  # the post-processor wins over tokenizer_config
    assert sv.ids == {"bos": 1, "eos": 2}


def test_trailing_token_other_than_eos_keeps_old_eos_as_eot(tmp_path: Path) -> None:
    tok = {"post_processor": _template("<s>", "A", "<|eot|>")}
    sv = load_special_vocab(_folder(tmp_path, tok, {"bos_token": "<s>", "eos_token": "</s>"}))
    assert sv.types[-1] == "eot"
    assert sv.ids == {"bos": 1, "eos": 3, "eot": 2}
    assert sv.add == {"bos": True, "eos": True}


def test_pair_template_with_separator(tmp_path: Path) -> None:
    tok = {"post_processor": _template("<s>", "A", pair=("<s>", "A", "<sep>", "B"))}
    sv = load_special_vocab(_folder(tmp_path, tok, {"bos_token": "<s>", "sep_token": "<sep>"}))
    assert sv.add == {"bos": True, "sep": True}
    assert sv.ids["sep"] == 4


def test_merges_in_pair_form_encode_spaces(tmp_path: Path) -> None:
    tok = {"model": {"merges": [["a b", "c"], ["d", "e"]]}}
    sv = load_special_vocab(_folder(tmp_path, tok, {}), load_merges=True)
    assert sv.merges == ["a\u0120b c", "d e"]
    assert load_special_vocab(tmp_path).merges == []  # only when asked for


def test_merges_txt_fallback(tmp_path: Path) -> None:
    (tmp_path / "merges.txt").write_text("#version: 0.2\nx y\nbad line here\n\nz w\n")
    assert load_special_vocab(tmp_path, load_merges=True).merges == ["x y", "z w"]


def test_config_json_fills_missing_ids_and_vocab_limit_drops(tmp_path: Path) -> None:
    folder = _folder(tmp_path, None, {"bos_token": "<s>"}, {"bos_token_id": 7, "eos_token_id": 9, "pad_token_id": 600})
    sv = load_special_vocab(folder, n_vocab=512)
    assert sv.ids == {"bos": 7, "eos": 9}  # no tokenizer.json: names cannot be resolved; pad is out of range


def test_text_config_ids(tmp_path: Path) -> None:
    sv = load_special_vocab(_folder(tmp_path, model_config={"text_config": {"eos_token_id": 5}}))
    assert sv.ids == {"eos": 5}


def test_negative_id_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(CorruptInputError, match="negative"):
        load_special_vocab(_folder(tmp_path, model_config={"bos_token_id": -1}))


def test_normalizer_flags(tmp_path: Path) -> None:
    tok = {"normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Lowercase"}, {"type": "BertNormalizer", "strip_accents": False}]}}
    sv = load_special_vocab(_folder(tmp_path, tok))
    assert (sv.lowercase, sv.strip_accents) == (True, False)


def test_chat_template_precedence(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text("JINJA")
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": "JSON"}))
    assert load_special_vocab(_folder(tmp_path, {}, {"chat_template": "CONFIG"})).chat_template == "CONFIG"
    assert load_special_vocab(_folder(tmp_path, {}, {"x": 1})).chat_template == "JINJA"
    (tmp_path / "chat_template.jinja").unlink()
    assert load_special_vocab(tmp_path).chat_template == "JSON"


def test_named_templates_and_key_order(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text("DEFAULT")
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "tool_use.jinja").write_text("TOOLS")
    tok = {"post_processor": {"type": "ByteLevel"}}
    sv = load_special_vocab(_folder(tmp_path, tok, {"eos_token": "</s>", "cls_token": "<s>"}))
    writer = GGUFWriter(path=None, arch="llama")
    sv.add_to(writer)
    meta = dict(to_meta(writer))
    # no bos_token: the cls token stands in for it; cls itself has no GGUF key
    assert list(meta) == ["general.architecture", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                          "tokenizer.chat_template.tool_use", "tokenizer.chat_templates", "tokenizer.chat_template"]
    assert meta["tokenizer.chat_template"].value == "DEFAULT"
    assert sv.ids == {"bos": 1, "eos": 2, "cls": 1}
    assert meta["tokenizer.chat_templates"].value == ["tool_use"]
