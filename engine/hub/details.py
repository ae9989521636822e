"""Assemble ModelDetails from what the Hub (or the cache, or the catalog) told us. Pure functions: no I/O.

A repo's facts come from several answers: ``model_info`` (license, gated flag, parameter counts by
dtype, GGUF metadata), the recursive file tree (sizes, GGUF quants in sub-folders) and ``config.json``
(dimensions). GGUF-only repos have no config.json; there the catalog fills in dimensions when it knows
the base model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from huggingface_hub import ModelInfo

from engine.errors import UnsupportedInputError
from engine.hub.arch import ArchDims
from engine.hub.catalog import Catalog, CatalogEntry
from engine.hub.models import ModelDetails, ModelSummary, RepoFile, Source
from engine.hub.quants import group_gguf

# Files a safetensors -> GGUF conversion reads, besides the weights themselves.
SOURCE_FILES = frozenset({
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
    "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
    "chat_template.json", "model.safetensors.index.json",
})


def is_gated(value: object) -> bool:
    """huggingface_hub reports ``gated`` as False, "auto" or "manual"."""
    return bool(value) and value != "false"


def _license(info: ModelInfo) -> str | None:
    card_license = getattr(info.card_data, "license", None) if info.card_data is not None else None
    if isinstance(card_license, str):
        return card_license
    tag = next((t for t in info.tags or () if t.startswith("license:")), None)
    return tag.split(":", 1)[1] if tag else None


def _base_model(info: ModelInfo) -> str | None:
    base = getattr(info.card_data, "base_model", None) if info.card_data is not None else None
    if isinstance(base, list):
        base = base[0] if base else None
    return base if isinstance(base, str) else None


def params_by_dtype(info: ModelInfo) -> dict[str, int]:
    return dict(info.safetensors.parameters) if info.safetensors is not None else {}


def summary_from_info(info: ModelInfo) -> ModelSummary:
    """A search hit from list_models' ModelInfo (only the expanded fields are set)."""
    gguf = info.gguf if isinstance(info.gguf, Mapping) else None
    params = info.safetensors.total if info.safetensors is not None else (gguf or {}).get("total")
    tags = tuple(info.tags or ())
    return ModelSummary(
        repo_id=info.id, author=info.author or info.id.split("/")[0], downloads=info.downloads,
        likes=info.likes, trending_score=info.trending_score, last_modified=info.last_modified,
        created_at=info.created_at, gated=is_gated(info.gated), pipeline_tag=info.pipeline_tag,
        library=info.library_name, tags=tags, params=int(params) if params else None,
        has_gguf=gguf is not None or "gguf" in tags or info.library_name == "gguf",
    )


def dims_from(config: Mapping[str, Any] | None, entry: CatalogEntry | None) -> ArchDims | None:
    """Dimensions from config.json when it is readable, else from the catalog entry."""
    if config:
        try:
            return ArchDims.from_config(config)
        except UnsupportedInputError:
            pass
    return entry.dims if entry is not None else None


def _architecture(config: Mapping[str, Any] | None, info: ModelInfo | None) -> tuple[str | None, str | None]:
    cfg = dict(config or (info.config if info is not None and isinstance(info.config, Mapping) else {}))
    archs = cfg.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs else None
    gguf = info.gguf if info is not None and isinstance(info.gguf, Mapping) else {}
    return arch or gguf.get("architecture"), cfg.get("model_type")


def build_details(repo_id: str, *, source: Source, files: Sequence[RepoFile], info: ModelInfo | None = None,
                  config: Mapping[str, Any] | None = None, params: Mapping[str, int] | None = None,
                  catalog: Catalog | None = None) -> ModelDetails:
    """Combine everything known about ``repo_id`` into ModelDetails (any part may be missing)."""
    base = _base_model(info) if info is not None else None
    entry = None
    if catalog is not None:
        entry = catalog.get(repo_id) or (catalog.get(base) if base else None)
    listing = group_gguf(files)
    by_dtype = dict(params or {})
    gguf_meta = info.gguf if info is not None and isinstance(info.gguf, Mapping) else {}
    total = sum(by_dtype.values()) or gguf_meta.get("total") or (entry.params if entry else None)
    arch, model_type = _architecture(config, info)
    return ModelDetails(
        repo_id=repo_id, source=source, sha=info.sha if info is not None else None,
        license=(_license(info) if info is not None else None) or (entry.license if entry else None),
        gated=is_gated(info.gated) if info is not None else bool(entry and entry.gated),
        architecture=arch or (entry.architecture if entry else None), model_type=model_type,
        base_model=base, total_params=int(total) if total else None, params_by_dtype=by_dtype,
        dims=dims_from(config, entry), gguf_variants=listing.variants, mmproj_files=listing.mmproj,
        imatrix_files=listing.imatrix, safetensors_files=tuple(f for f in files if f.path.endswith(".safetensors")),
        files=tuple(files), downloads=info.downloads if info is not None else None,
        likes=info.likes if info is not None else None, tags=tuple(info.tags or ()) if info is not None else (),
        gguf_repos=entry.gguf_repos if entry is not None else (),
    )


def source_files(files: Iterable[RepoFile]) -> list[RepoFile]:
    """What converting the repo needs: root-level safetensors weights plus config and tokenizer files."""
    return [f for f in files if "/" not in f.path and (f.path.endswith(".safetensors") or f.path in SOURCE_FILES)]
