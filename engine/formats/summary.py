"""One frozen summary of any checkpoint, for ``quantpick inspect`` and the app's model card.

Each format's reader validates its input; this module only reduces the result to the facts a person
asks first: what architecture, how many parameters, in which types, how big, with what tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gguf import LlamaFileType

from engine.errors import UnsupportedInputError
from engine.formats.detect import InputKind, detect
from engine.formats.gguf_read import GGUFFile, GGUFTensorInfo, read_gguf
from engine.formats.gguf_split import KEY_COUNT, GGUFSplit, read_gguf_split
from engine.formats.hf_folder import HFFolder, read_hf_folder
from engine.formats.safetensors import SafetensorInfo
from engine.formats.safetensors_index import SafetensorsModel, from_files, read_safetensors_index

# tokenizer.ggml.model -> the same kind names the Hugging Face folder reader reports.
GGUF_TOKENIZER_KINDS = {"llama": "sentencepiece", "gpt2": "bpe", "bert": "wordpiece", "t5": "unigram"}
_NO_TOKENIZER = frozenset({"none", "no_vocab"})


@dataclass(frozen=True, slots=True)
class TypeCount:
    """How many tensors, and how many of the model's parameters, are stored in one type."""

    name: str
    tensors: int
    parameters: int


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    """What a checkpoint is. ``None`` means the checkpoint does not say (never a guess)."""

    path: str
    kind: str  # an InputKind value
    description: str  # e.g. "GGUF v3", "split GGUF, 3 parts", "Hugging Face folder"
    architecture: str | None
    parameters: int
    tensor_count: int
    layers: int | None
    context_length: int | None
    file_type: str | None  # GGUF general.file_type, e.g. "Q4_K_M"
    types: tuple[TypeCount, ...]  # largest share of parameters first
    files: int
    size_on_disk: int
    tokenizer: str | None
    chat_template: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ``types`` as a list of objects."""
        data = asdict(self)
        data["types"] = list(data["types"])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def summarize(path: Path | str) -> CheckpointSummary:
    """Detect what ``path`` is, read it with its validating reader, and summarise it.

    Raises:
        QuantpickError: any subclass the detector or the format's reader raises.
    """
    path = Path(path)
    kind = detect(path)
    if kind is InputKind.GGUF:
        return _from_gguf(path, read_gguf(path), kind, n_files=1)
    if kind is InputKind.GGUF_SPLIT:
        split = read_gguf_split(path)
        return _from_gguf(path, split, kind, n_files=len(split.parts))
    if kind is InputKind.HF_FOLDER:
        folder = path.parent if path.name == "config.json" else path
        return _from_hf(read_hf_folder(folder))
    if kind is InputKind.SAFETENSORS_INDEX and (path.parent / "config.json").is_file():
        return _from_hf(read_hf_folder(path.parent))
    model = read_safetensors_index(path) if kind is InputKind.SAFETENSORS_INDEX else from_files([path])
    return _from_safetensors(path, model, kind)


def count_types(entries: Iterable[tuple[str, int]]) -> tuple[TypeCount, ...]:
    """(type name, element count) per tensor -> per-type totals, largest parameter share first."""
    tensors: dict[str, int] = {}
    params: dict[str, int] = {}
    for name, n in entries:
        tensors[name] = tensors.get(name, 0) + 1
        params[name] = params.get(name, 0) + n
    order = sorted(tensors, key=lambda k: (-params[k], k))
    return tuple(TypeCount(k, tensors[k], params[k]) for k in order)


def file_type_name(value: Any) -> str | None:
    """general.file_type as llama-quantize names it (15 -> "Q4_K_M"), or None if unknown."""
    if type(value) is not int:
        return None
    try:
        name = LlamaFileType(value).name
    except ValueError:
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _gguf_int(model: GGUFFile | GGUFSplit, key: str) -> int | None:
    value = model.get(key)
    return value if type(value) is int and value > 0 else None


def _gguf_tokenizer(model: GGUFFile | GGUFSplit) -> str | None:
    value = model.get("tokenizer.ggml.model")
    if not isinstance(value, str) or value in _NO_TOKENIZER:
        return None
    return GGUF_TOKENIZER_KINDS.get(value, value)


def _from_gguf(path: Path, model: GGUFFile | GGUFSplit, kind: InputKind, n_files: int) -> CheckpointSummary:
    if kind is InputKind.GGUF and type(model.get(KEY_COUNT)) is int and model.get(KEY_COUNT) > 1:
        raise UnsupportedInputError(
            f"{path.name} is one part of a model split into {model.get(KEY_COUNT)} files, "
            "but its name does not say which part it is.",
            "Give the parts their original names (name-00001-of-00003.gguf, ...) and pass any of them.",
        )
    arch = model.get("general.architecture")
    arch = arch if isinstance(arch, str) else None
    version = model.parts[0].version if isinstance(model, GGUFSplit) else model.version
    description = f"GGUF v{version}" + (f", split into {n_files} parts" if n_files > 1 else "")
    gtype = model.get("general.type")
    if isinstance(gtype, str) and gtype != "model":
        description += f" ({gtype})"
    tensors: tuple[GGUFTensorInfo, ...] = model.tensors
    return CheckpointSummary(
        path=str(path), kind=kind.value, description=description, architecture=arch,
        parameters=sum(t.n_elements for t in tensors), tensor_count=len(tensors),
        layers=_gguf_int(model, f"{arch}.block_count") if arch else None,
        context_length=_gguf_int(model, f"{arch}.context_length") if arch else None,
        file_type=file_type_name(model.get("general.file_type")),
        types=count_types((t.qtype.name, t.n_elements) for t in tensors),
        files=n_files, size_on_disk=model.file_size, tokenizer=_gguf_tokenizer(model),
        chat_template=bool(model.get("tokenizer.chat_template")),
    )


def _safetensors_types(tensors: tuple[SafetensorInfo, ...]) -> tuple[TypeCount, ...]:
    return count_types((t.dtype, t.n_elements) for t in tensors)


def _from_hf(folder: HFFolder) -> CheckpointSummary:
    tensors = folder.weights.tensors
    n_files = len(folder.weights.files)
    return CheckpointSummary(
        path=str(folder.path), kind=InputKind.HF_FOLDER.value,
        description=f"Hugging Face folder, {n_files} safetensors file{'s' if n_files != 1 else ''}",
        architecture=folder.architecture, parameters=sum(t.n_elements for t in tensors),
        tensor_count=len(tensors), layers=folder.layers, context_length=folder.context_length,
        file_type=None, types=_safetensors_types(tensors), files=n_files,
        size_on_disk=folder.size_on_disk, tokenizer=folder.tokenizer_kind, chat_template=folder.chat_template,
    )


def _from_safetensors(path: Path, model: SafetensorsModel, kind: InputKind) -> CheckpointSummary:
    tensors = model.tensors
    n_files = len(model.files)
    what = "safetensors file" if kind is InputKind.SAFETENSORS else f"safetensors index, {n_files} files"
    return CheckpointSummary(
        path=str(path), kind=kind.value,
        description=f"{what}, weights only (its folder's config.json would name the architecture)",
        architecture=None, parameters=sum(t.n_elements for t in tensors), tensor_count=len(tensors),
        layers=None, context_length=None, file_type=None, types=_safetensors_types(tensors),
        files=n_files, size_on_disk=model.size_on_disk + (path.stat().st_size if model.index_path else 0),
        tokenizer=None, chat_template=False,
    )
