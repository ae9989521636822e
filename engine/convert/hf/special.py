"""Special-token ids, add-BOS/EOS flags, merges and chat template, found as llama.cpp's converter finds them.

Sources, in the converter's order of precedence: ``tokenizer.json`` (merges, normaliser flags, added tokens,
the post-processor's template), ``tokenizer_config.json`` (``<t>_token`` names, ``add_<t>_token`` flags,
chat template), ``chat_template.jinja``/``.json``, then ``config.json`` (``<t>_token_id``). The first value
found for a token type wins, and the GGUF keys are written in the order the values were found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGUFWriter

from engine.convert.hf.jsonfile import read_json
from engine.errors import CorruptInputError

DEFAULT_TYPES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
# The writer has no key for these token types; the converter skips them too.
_NO_KEY = frozenset({"cls"})


def _special_id(entry: dict[str, Any]) -> Any:
    return entry.get("SpecialToken", {}).get("id")


@dataclass(slots=True)
class SpecialVocabulary:
    """What a model folder says about special tokens; ``add_to`` writes it in the converter's order."""

    n_vocab: int | None = None
    types: tuple[str, ...] = DEFAULT_TYPES
    merges: list[str] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    add: dict[str, bool] = field(default_factory=dict)
    chat_template: str | list[Any] | None = None
    lowercase: bool | None = None
    strip_accents: bool | None = None

    def set_id(self, typ: str, tid: Any) -> None:
        """Record ``tid`` for ``typ`` unless one is already known or it is outside the vocabulary."""
        if not isinstance(tid, int):
            return
        if tid < 0:
            raise CorruptInputError(f"The tokenizer files give the {typ} token a negative id ({tid}).")
        if (self.n_vocab is None or tid < self.n_vocab) and typ not in self.ids:
            self.ids[typ] = tid

    def add_to(self, writer: GGUFWriter) -> None:
        if self.merges:
            writer.add_token_merges(self.merges)
        for typ, tid in self.ids.items():
            handler = getattr(writer, f"add_{typ}_token_id", None)
            if handler is not None and typ not in _NO_KEY:
                handler(tid)
        for typ, value in self.add.items():
            handler = getattr(writer, f"add_add_{typ}_token", None)
            if handler is not None:
                handler(value)
        if self.chat_template is not None:
            writer.add_chat_template(self.chat_template)
        if self.lowercase is not None:
            writer.add_bool("tokenizer.ggml.normalizer.lowercase", self.lowercase)
        if self.strip_accents is not None:
            writer.add_bool("tokenizer.ggml.normalizer.strip_accents", self.strip_accents)


def load_special_vocab(
    folder: Path, *, load_merges: bool = False, n_vocab: int | None = None,
    types: tuple[str, ...] = DEFAULT_TYPES,
) -> SpecialVocabulary:
    """Read every special-token fact the folder holds (see the module docstring for the order)."""
    sv = SpecialVocabulary(n_vocab=n_vocab, types=types)
    tokenizer = read_json(folder / "tokenizer.json")
    added: list[Any] = []
    if tokenizer is not None:
        if load_merges:
            sv.merges = _merges(tokenizer)
        if tokenizer.get("normalizer"):
            _normalizer(sv, tokenizer["normalizer"])
        added = tokenizer.get("added_tokens", [])
    tc = read_json(folder / "tokenizer_config.json")
    if tokenizer is not None:
        _post_processor(sv, tokenizer.get("post_processor"), tc)
    if tc:
        _from_tokenizer_config(sv, folder, tc, added)
    config = read_json(folder / "config.json") or {}
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else None
    for typ in sv.types:
        tid = config.get(f"{typ}_token_id")
        if tid is None and text is not None:
            tid = text.get(f"{typ}_token_id")
        sv.set_id(typ, tid)
    if load_merges and not sv.merges:
        sv.merges = _merges_txt(folder / "merges.txt")
    return sv


def _merges(tokenizer: dict[str, Any]) -> list[str]:
    """``model.merges`` as "a b" strings; pairs (the newer form) have literal spaces shifted to U+0120."""
    merges = tokenizer.get("model", {}).get("merges")
    if not isinstance(merges, list) or not merges:
        return []
    if isinstance(merges[0], str):
        return merges
    if isinstance(merges[0], list) and len(merges[0]) == 2 and isinstance(merges[0][0], str):
        return [" ".join(part.replace(" ", "\u0120") for part in pair) for pair in merges]
    raise CorruptInputError("tokenizer.json lists its merges in a form Quantpick does not know.")


def _merges_txt(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].strip().startswith("#"):
        lines = lines[1:]
    merges = []
    for line in lines:
        parts = line.strip().split(None, 3)
        if len(parts) == 2:
            merges.append(f"{parts[0]} {parts[1]}")
    return merges


def _normalizer(sv: SpecialVocabulary, norm: dict[str, Any]) -> None:
    kind = norm.get("type")
    if kind == "Lowercase":
        sv.lowercase = True
    elif kind == "StripAccents":
        sv.strip_accents = True
    elif kind == "BertNormalizer":
        if "lowercase" in norm:
            sv.lowercase = norm["lowercase"]
        if "strip_accents" in norm:
            sv.strip_accents = norm["strip_accents"]
    elif kind == "Sequence":
        for inner in norm.get("normalizers", []):
            _normalizer(sv, inner)


def _post_processor(sv: SpecialVocabulary, post: Any, tc: dict[str, Any] | None) -> None:
    """Infer add_bos/add_eos/add_sep (and missing bos/cls/eos/sep names) from the post-processor."""
    cfg = tc or {}
    names = {k: cfg.get(f"{k}_token") for k in ("bos", "cls", "eos", "sep")}
    if not names["bos"] and names["cls"] and tc:
        tc["bos_token"] = names["bos"] = names["cls"]
    if not names["eos"] and names["sep"] and tc:
        tc["eos_token"] = names["eos"] = names["sep"]
    if not post:
        return
    for proc in post.get("processors", [post]):
        kind = proc.get("type")
        if kind == "ByteLevel":
            sv.add.setdefault("bos", False)
            sv.add.setdefault("eos", False)
        elif kind == "RobertaProcessing":
            sv.add.update(bos=True, eos=True, sep=True)
            if not names["cls"] and tc:
                tc["cls_token"] = names["cls"] = proc.get("cls", [names["bos"]])[0]
            if not names["sep"] and tc:
                tc["sep_token"] = names["sep"] = proc.get("sep", [names["eos"]])[0]
        elif kind == "TemplateProcessing":
            _template(sv, proc, tc, names)


def _template(sv: SpecialVocabulary, proc: dict[str, Any], tc: dict[str, Any] | None, names: dict[str, Any]) -> None:
    """The converter's reading of a simple TemplateProcessing: leading/trailing specials and separators."""
    single, pair = proc.get("single", []), proc.get("pair", [])
    first = last = None
    if len(single) > 1:
        first = _special_id(single[0])
        if first:
            if not tc:
                names["bos"] = first
            elif first not in (names["bos"], names["cls"]):
                if not names["bos"]:
                    tc["bos_token"] = names["bos"] = first
                if not names["cls"]:
                    tc["cls_token"] = names["cls"] = first
            sv.add["bos"] = first in (names["bos"], names["cls"])
        last = _special_id(single[-1])
        if last:
            if not tc:
                names["eos"] = last
            elif last != names["eos"]:
                _demote_eos(sv, tc, names["eos"])
                tc["eos_token"] = names["eos"] = last
            sv.add["eos"] = last == names["eos"]
    if not pair:
        return
    start = 1 if first and _special_id(pair[0]) == first else 0
    stop = -1 if last and _special_id(pair[-1]) == last else None
    pair = pair[start:stop]
    if not pair:
        return
    a, b = pair[0].get("Sequence", {}).get("id"), pair[-1].get("Sequence", {}).get("id")
    middle = pair[1:-1]
    if a != "A" or b != "B" or not middle:
        return
    seps = (names["sep"], names["eos"])
    add_sep = bool(_special_id(middle[0]) in seps and _special_id(middle[0]) and not last)
    if len(middle) == 2 and _special_id(middle[1]) and _special_id(middle[1]) in seps:
        add_sep = True
    sv.add["sep"] = add_sep
    if add_sep and not names["sep"] and tc:
        tc["sep_token"] = names["eos"]


def _demote_eos(sv: SpecialVocabulary, tc: dict[str, Any], old_eos: Any) -> None:
    """The template ends in a token other than EOS: keep the old EOS as EOT (or EOM if EOT is taken)."""
    for typ in ("eot", "eom"):
        if typ not in sv.types:
            sv.types = (*sv.types, typ)
            tc[f"{typ}_token"] = old_eos
            return


def _from_tokenizer_config(sv: SpecialVocabulary, folder: Path, tc: dict[str, Any], added: list[Any]) -> None:
    template = tc.get("chat_template", _template_files(folder))
    if template is None or isinstance(template, (str, list)):
        sv.chat_template = template
    for typ in sv.types:
        flag = tc.get(f"add_{typ}_token")
        if isinstance(flag, bool) and typ not in sv.add:
            sv.add[typ] = flag
        entry = tc.get(f"{typ}_token")
        content = entry.get("content") if isinstance(entry, dict) else entry
        if not isinstance(content, str):
            continue
        sv.set_id(typ, next((a.get("id") for a in added if a.get("content") == content), None))


def _template_files(folder: Path) -> str | list[dict[str, str]] | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        default = jinja.read_text(encoding="utf-8")
        extra = sorted((folder / "additional_chat_templates").glob("*.jinja"))
        if not extra:
            return default
        return [{"name": "default", "template": default}] + [
            {"name": p.stem, "template": p.read_text(encoding="utf-8")} for p in extra
        ]
    data = read_json(folder / "chat_template.json")
    return data.get("chat_template") if data is not None else None
