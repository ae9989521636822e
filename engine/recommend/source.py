"""Turn what the user names (a GGUF file, a Hugging Face folder, a catalog id) into a ModelDescription.

Only headers are read: GGUF metadata and tensor infos, config.json and safetensors headers, or the offline
catalog. A catalog or config.json model gets the GGUF tensor list its conversion would have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import CorruptInputError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_split import read_gguf_split, split_part_paths
from engine.formats.hf_folder import read_hf_folder
from engine.quant.rules import TensorSpec
from engine.recommend.model import ModelDescription, from_catalog_dims, from_gguf_metadata, from_hf_config
from engine.recommend.tensor_shapes import with_gguf_tensors
from engine.resources_path import resource_path

CATALOG_PATH = resource_path("catalog.json")
_DTYPES: dict[str, GGMLType] = {"BF16": GGMLType.BF16, "F16": GGMLType.F16, "F32": GGMLType.F32}


def from_gguf(path: Path | str) -> ModelDescription:
    """Describe a GGUF (any part of a split GGUF names the whole model)."""
    path = Path(path)
    model = read_gguf_split(path) if split_part_paths(path) else read_gguf(path)
    tensors = [TensorSpec(t.name, t.shape, t.qtype) for t in model.tensors]
    return from_gguf_metadata(model.metadata, tensors, name=path.stem)


def from_folder(path: Path | str) -> ModelDescription:
    """Describe a Hugging Face folder from config.json, with the checkpoint's dtype from its safetensors."""
    folder = read_hf_folder(path)
    desc = from_hf_config(folder.config, name=Path(path).name)
    by_dtype = folder.weights.parameters_by_dtype()
    dtype = _DTYPES.get(next(iter(by_dtype), "BF16"), GGMLType.BF16)
    bias = any(t.name.endswith("q_proj.bias") for t in folder.weights.tensors)
    return with_gguf_tensors(desc, dtype=dtype, qkv_bias=bias)


def load_catalog_entries(path: Path = CATALOG_PATH) -> list[Mapping[str, Any]]:
    """The raw ``models`` list of the offline catalog.

    Raises:
        CorruptInputError: the file is missing or not the catalog format.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return list(data["models"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CorruptInputError(f"The model catalog {path} could not be read ({e}).") from e


def from_catalog(repo_id: str, *, path: Path = CATALOG_PATH) -> ModelDescription:
    """Describe a catalog model by its Hugging Face id (case-insensitive).

    Raises:
        UsageError: the catalog has no such model.
    """
    for entry in load_catalog_entries(path):
        if str(entry.get("repo_id", "")).lower() == repo_id.lower():
            return from_entry(entry)
    raise UsageError(
        f"{repo_id!r} is not in Quantpick's offline catalog.",
        "Pass a GGUF file or a downloaded model folder, or a catalog id such as Qwen/Qwen3-8B.",
    )


def from_entry(entry: Mapping[str, Any]) -> ModelDescription:
    """Describe one catalog entry (``dims`` plus ``gguf_arch``)."""
    dims = entry.get("dims")
    if not isinstance(dims, Mapping):
        raise CorruptInputError(f"The catalog entry {entry.get('repo_id')} has no dims.")
    desc = from_catalog_dims(dims, arch=str(entry.get("gguf_arch", "")), name=str(entry.get("name", "model")))
    return with_gguf_tensors(desc, qkv_bias=bool(dims["qkv_bias"]) if "qkv_bias" in dims else None)


def resolve(source: str) -> ModelDescription:
    """A GGUF path, a model folder, or a catalog id.

    Raises:
        UsageError: nothing by that name.
    """
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise UsageError(f"{path.name} is not a GGUF file.", "Pass a .gguf file or a model folder.")
        return from_gguf(path)
    if path.is_dir():
        return from_folder(path)
    return from_catalog(source)
