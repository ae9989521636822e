"""A Hugging Face model folder: config, tokenizer, chat template and safetensors weights.

Only what the folder's own files state is reported; nothing is guessed from the folder's name. Pickled
weights are refused (see ``pickles``), and a folder with no usable weights says what it did contain.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import CorruptInputError, UnsupportedInputError
from engine.formats.filebytes import file_size, head
from engine.formats.pickles import pickled_files, refuse_pickle
from engine.formats.safetensors import MAX_HEADER_BYTES, load_strict_json
from engine.formats.safetensors_index import INDEX_NAME, SafetensorsModel, from_files, read_safetensors_index

TOKENIZER_FILES = (
    "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "vocab.txt",
    "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json",
)
MAX_TOKENIZER_JSON_BYTES = 512 * 1024 * 1024
# tokenizer.json "model.type" -> the kind name Quantpick reports (GGUF summaries use the same names).
_TOKENIZER_KINDS = {"BPE": "bpe", "Unigram": "unigram", "WordPiece": "wordpiece", "WordLevel": "wordlevel"}
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")


@dataclass(frozen=True, slots=True)
class HFFolder:
    """What a Hugging Face checkpoint folder holds, as read from its files.

    ``architecture`` is the first entry of ``architectures`` (the class llama.cpp's converter keys on);
    ``tokenizer_kind`` is one of sentencepiece, bpe, unigram, wordpiece, wordlevel, or None.
    """

    path: Path
    config: Mapping[str, Any]
    generation_config: Mapping[str, Any] | None
    architecture: str | None
    model_type: str | None
    tokenizer_kind: str | None
    tokenizer_files: tuple[str, ...]
    chat_template: bool
    weights: SafetensorsModel
    context_length: int | None
    layers: int | None
    size_on_disk: int


def read_hf_folder(path: Path | str) -> HFFolder:
    """Read a model folder's config, tokenizer files and safetensors headers.

    Raises:
        UnsupportedInputError: no config.json, or no safetensors weights.
        PickledCheckpointError: the weights exist only as pickled PyTorch files.
        CorruptInputError: a JSON file or a weight file is damaged.
    """
    folder = Path(path)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UnsupportedInputError(
            f"{folder} has no config.json, so it is not a Hugging Face model folder.",
            "Pass the folder that holds config.json and the .safetensors files, or a single model file.",
        )
    config = _json_object(config_path)
    gen_path = folder / "generation_config.json"
    generation = MappingProxyType(_json_object(gen_path)) if gen_path.is_file() else None
    text_config = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    return HFFolder(
        path=folder,
        config=MappingProxyType(config),
        generation_config=generation,
        architecture=_architecture(config),
        model_type=config.get("model_type") if isinstance(config.get("model_type"), str) else None,
        tokenizer_kind=tokenizer_kind(folder),
        tokenizer_files=tuple(name for name in TOKENIZER_FILES if (folder / name).is_file()),
        chat_template=has_chat_template(folder),
        weights=find_weights(folder),
        context_length=_first_int(config, text_config, _CONTEXT_KEYS),
        layers=_first_int(config, text_config, _LAYER_KEYS),
        size_on_disk=folder_size(folder),
    )


def _json_object(path: Path, limit: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    size = file_size(path)
    if size > limit:
        raise CorruptInputError(f"{path.name} is {size:,} bytes, far larger than such a file ever is.")
    try:
        obj = load_strict_json(head(path, size))
    except (ValueError, RecursionError) as e:
        raise CorruptInputError(f"{path.name} in {path.parent} is not valid JSON ({e}).") from e
    if not isinstance(obj, dict):
        raise CorruptInputError(f"{path.name} in {path.parent} holds a JSON {type(obj).__name__}, not an object.")
    return obj


def _architecture(config: Mapping[str, Any]) -> str | None:
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    model_type = config.get("model_type")
    return model_type if isinstance(model_type, str) else None


def _first_int(config: Mapping[str, Any], text_config: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first of ``keys`` holding a positive integer, in the config or its ``text_config``."""
    for source in (config, text_config):
        for key in keys:
            value = source.get(key)
            if type(value) is int and value > 0:
                return value
    return None


def tokenizer_kind(folder: Path) -> str | None:
    """sentencepiece when tokenizer.model exists (llama.cpp's converter prefers it), else tokenizer.json's model."""
    if (folder / "tokenizer.model").is_file():
        return "sentencepiece"
    tok_path = folder / "tokenizer.json"
    if tok_path.is_file():
        size = file_size(tok_path)
        if size > MAX_TOKENIZER_JSON_BYTES:
            raise CorruptInputError(f"tokenizer.json is {size:,} bytes, far larger than any real tokenizer.")
        try:
            tok = json.loads(head(tok_path, size).decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise CorruptInputError(f"tokenizer.json in {folder} is not valid JSON ({e}).") from e
        model = tok.get("model") if isinstance(tok, dict) else None
        kind = model.get("type") if isinstance(model, dict) else None
        return _TOKENIZER_KINDS.get(kind, kind.lower()) if isinstance(kind, str) and kind else None
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return "bpe"
    return None


def has_chat_template(folder: Path) -> bool:
    """A chat template in tokenizer_config.json, or as chat_template.jinja / chat_template.json."""
    for name in ("chat_template.jinja", "chat_template.json"):
        candidate = folder / name
        if candidate.is_file() and candidate.stat().st_size > 0:
            return True
    tc_path = folder / "tokenizer_config.json"
    if not tc_path.is_file():
        return False
    template = _json_object(tc_path).get("chat_template")
    return bool(template) and isinstance(template, (str, list))


def find_weights(folder: Path) -> SafetensorsModel:
    """The folder's safetensors weights: the index if present, else model.safetensors, else every shard."""
    index = folder / INDEX_NAME
    if index.is_file():
        return read_safetensors_index(index)
    single = folder / "model.safetensors"
    if single.is_file():
        return from_files([single])
    shards = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".safetensors")
    if shards:
        return from_files(shards)
    pickles = pickled_files(folder)
    if pickles:
        refuse_pickle(pickles[0])
    ggufs = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".gguf")
    if ggufs:
        raise UnsupportedInputError(
            f"{folder} holds GGUF files ({', '.join(ggufs[:3])}) but no safetensors weights.",
            "Pass one of the .gguf files itself.",
        )
    raise UnsupportedInputError(
        f"{folder} has no model weights (no .safetensors files).",
        "Download the weight files too, or pass a folder that has them.",
    )


def folder_size(folder: Path) -> int:
    """Bytes of every file under the folder (links followed, hidden folders such as .git skipped)."""
    total = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total
