"""Frozen results of Hub look-ups: search hits, repo files, GGUF variants, model details, downloads.

They carry plain values only (no huggingface_hub objects), so the GUI and the recommender can keep and
compare them without knowing where they came from: the live Hub, the local cache or the catalog.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from engine.hub.arch import ArchDims


class Source(enum.Enum):
    """Where a result came from; anything but HUB means the picker is showing what it has offline."""

    HUB = "hub"
    CACHE = "cache"
    CATALOG = "catalog"


class SortKey(enum.Enum):
    """Search orders the Hub offers; values are huggingface_hub's ``sort`` names."""

    DOWNLOADS = "downloads"
    TRENDING = "trending_score"
    LIKES = "likes"
    RECENT = "created_at"
    UPDATED = "last_modified"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What the user asked for. ``min_params``/``max_params`` are parameter counts (e.g. 7e9)."""

    text: str = ""
    author: str | None = None
    gguf_only: bool = False
    sort: SortKey = SortKey.DOWNLOADS
    min_params: float | None = None
    max_params: float | None = None
    page: int = 0
    page_size: int = 20


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One search hit. ``params`` comes from the Hub's safetensors or GGUF metadata when it has any."""

    repo_id: str
    author: str | None = None
    downloads: int | None = None
    likes: int | None = None
    trending_score: float | None = None
    last_modified: datetime | None = None
    created_at: datetime | None = None
    gated: bool = False
    pipeline_tag: str | None = None
    library: str | None = None
    tags: tuple[str, ...] = ()
    params: int | None = None
    has_gguf: bool = False
    source: Source = Source.HUB


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results. ``offline`` pages come from the catalog and the local cache only."""

    query: SearchQuery
    results: tuple[ModelSummary, ...]
    has_more: bool
    offline: bool = False
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class RepoFile:
    """A file in a repo. ``sha256`` is set for LFS files (all weights); ``path`` may contain folders."""

    path: str
    size: int
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""


@dataclass(frozen=True, slots=True)
class GGUFVariant:
    """One downloadable quant: a single .gguf, or every shard of a split one, summed into one entry.

    ``name`` is the label as the repo spells it after normalising case (``Q4_K_M``, ``UD-Q4_K_XL``);
    ``quant`` drops vendor prefixes such as unsloth's ``UD-``. ``complete`` is False when shards are missing.
    """

    name: str
    quant: str
    files: tuple[RepoFile, ...]
    size: int
    shard_count: int = 1
    complete: bool = True

    @property
    def first_file(self) -> RepoFile:
        """The file to hand to llama.cpp (it finds the other shards itself)."""
        return self.files[0]

    @property
    def is_split(self) -> bool:
        return self.shard_count > 1

    def bits_per_weight(self, params: int | None) -> float | None:
        """Average bits per parameter, file overhead included; None when the parameter count is unknown."""
        return self.size * 8 / params if params else None


@dataclass(frozen=True, slots=True)
class ModelDetails:
    """Everything the picker shows about one repo, fetched without downloading any weights.

    ``params_by_dtype`` maps safetensors dtypes (``BF16``...) to parameter counts. ``dims`` comes from
    ``config.json``, or from the catalog for GGUF-only repos whose base model it knows; ``gguf_repos``
    are the catalog's well-known GGUF conversions of this model.
    """

    repo_id: str
    source: Source
    sha: str | None = None
    license: str | None = None
    gated: bool = False
    architecture: str | None = None
    model_type: str | None = None
    base_model: str | None = None
    total_params: int | None = None
    params_by_dtype: dict[str, int] = field(default_factory=dict)
    dims: ArchDims | None = None
    gguf_variants: tuple[GGUFVariant, ...] = ()
    mmproj_files: tuple[RepoFile, ...] = ()
    imatrix_files: tuple[RepoFile, ...] = ()
    safetensors_files: tuple[RepoFile, ...] = ()
    files: tuple[RepoFile, ...] = ()
    downloads: int | None = None
    likes: int | None = None
    tags: tuple[str, ...] = ()
    gguf_repos: tuple[str, ...] = ()

    @property
    def offline(self) -> bool:
        return self.source is not Source.HUB

    @property
    def safetensors_size(self) -> int:
        return sum(f.size for f in self.safetensors_files)

    def variant(self, name: str) -> GGUFVariant | None:
        """The variant called ``name`` (case-insensitive; ``Q4_K_M`` also finds ``UD-Q4_K_M``)."""
        wanted = name.upper()
        exact = [v for v in self.gguf_variants if v.name == wanted]
        loose = [v for v in self.gguf_variants if v.quant == wanted]
        return (exact or loose or [None])[0]


@dataclass(frozen=True, slots=True)
class CachedModel:
    """A model repo already in the local Hugging Face cache.

    ``snapshot`` is the newest revision's folder; ``convertible`` means it holds config.json and
    safetensors weights, so it can be a conversion source without any download.
    """

    repo_id: str
    snapshot: Path
    size_on_disk: int
    files: tuple[RepoFile, ...]
    revision: str
    refs: tuple[str, ...] = ()
    last_modified: float = 0.0
    gguf_variants: tuple[GGUFVariant, ...] = ()
    convertible: bool = False
    incomplete_bytes: int = 0


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """Files now in the cache: ``paths`` in the order asked for; ``main_path`` is what to open."""

    repo_id: str
    revision: str
    paths: tuple[Path, ...]
    total_bytes: int
    downloaded_bytes: int

    @property
    def main_path(self) -> Path:
        return self.paths[0]

    @property
    def snapshot_dir(self) -> Path:
        """The revision folder (the model folder a converter reads for safetensors downloads)."""
        return _snapshot_of(self.paths[0])


def _snapshot_of(path: Path) -> Path:
    for parent in path.parents:
        if parent.parent.name == "snapshots":
            return parent
    return path.parent
