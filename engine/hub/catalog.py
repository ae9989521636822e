"""The offline catalog (resources/catalog.json): popular local models with the dimensions the memory
model needs, so the picker and the recommender work before, or without, any network access.

The file is data, checked here on load: a typo in a dimension would silently skew every memory
estimate, so structure is validated strictly and tests recompute each parameter count from it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import CorruptInputError
from engine.hub.arch import ArchDims
from engine.hub.models import ModelSummary, SearchQuery, Source
from engine.resources_path import resource_path

CATALOG_PATH = resource_path("catalog.json")
SCHEMA_VERSION = 1

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REQUIRED = {
    "repo_id": str, "name": str, "family": str, "architecture": str, "gguf_arch": str,
    "params": int, "license": str, "gated": bool, "dims": dict, "gguf_repos": list,
}
_OPTIONAL = {"active_params": int, "vision_params": int, "notes": str}
_DIM_REQUIRED = ("n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "n_ff", "n_vocab", "n_ctx_train")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One catalog model. ``params`` is the published total (vision tower included when there is one,
    counted in ``vision_params``); ``active_params`` is set for mixture-of-experts models."""

    repo_id: str
    name: str
    family: str
    architecture: str
    gguf_arch: str
    params: int
    license: str
    gated: bool
    dims: ArchDims
    gguf_repos: tuple[str, ...]
    active_params: int | None = None
    vision_params: int = 0
    notes: str = ""

    @property
    def author(self) -> str:
        return self.repo_id.split("/", 1)[0]

    def matches(self, query: SearchQuery) -> bool:
        """Whether this entry answers ``query`` (every word of the text appears in its names)."""
        haystack = " ".join([self.repo_id, self.name, self.family, *self.gguf_repos]).lower()
        if any(word not in haystack for word in query.text.lower().split()):
            return False
        if query.author and query.author.lower() not in {self.author.lower(), *(r.split("/")[0].lower()
                                                                               for r in self.gguf_repos)}:
            return False
        if query.min_params is not None and self.params < query.min_params:
            return False
        return query.max_params is None or self.params <= query.max_params

    def to_summary(self) -> ModelSummary:
        return ModelSummary(
            repo_id=self.repo_id, author=self.author, gated=self.gated, params=self.params,
            has_gguf=bool(self.gguf_repos), pipeline_tag="text-generation",
            tags=(self.family, f"license:{self.license}"), source=Source.CATALOG,
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    """All entries, in the file's order (families grouped, small to large)."""

    entries: tuple[CatalogEntry, ...]

    def get(self, repo_id: str) -> CatalogEntry | None:
        """The entry for a source repo, or for one of its listed GGUF repos."""
        key = repo_id.lower()
        for e in self.entries:
            if e.repo_id.lower() == key or key in (r.lower() for r in e.gguf_repos):
                return e
        return None

    def search(self, query: SearchQuery) -> list[CatalogEntry]:
        return [e for e in self.entries if e.matches(query)]


def _check_fields(obj: Mapping[str, Any], where: str) -> list[str]:
    problems = [f"{where}: missing '{k}'" for k in _REQUIRED if k not in obj]
    allowed = {**_REQUIRED, **_OPTIONAL}
    for key, value in obj.items():
        kind = allowed.get(key)
        if kind is None:
            problems.append(f"{where}: unknown field '{key}'")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{where}: '{key}' should be {kind.__name__}")
    return problems


def _check_dims(dims: ArchDims, where: str) -> list[str]:
    problems = [f"{where}: {k} must be positive" for k in _DIM_REQUIRED if getattr(dims, k) <= 0]
    if dims.n_head_kv > 0 and dims.n_head % dims.n_head_kv:
        problems.append(f"{where}: n_head {dims.n_head} is not a multiple of n_head_kv {dims.n_head_kv}")
    if bool(dims.n_swa) != bool(dims.swa_pattern):
        problems.append(f"{where}: n_swa and swa_pattern must be set together")
    if dims.n_expert and not (0 < dims.n_expert_used <= dims.n_expert and dims.n_ff_exp > 0):
        problems.append(f"{where}: a mixture of experts needs 0 < n_expert_used <= n_expert and n_ff_exp")
    if not dims.n_expert and (dims.n_expert_used or dims.n_ff_exp):
        problems.append(f"{where}: n_expert_used/n_ff_exp set without n_expert")
    return problems


def _entry(obj: Mapping[str, Any], where: str) -> tuple[CatalogEntry | None, list[str]]:
    problems = _check_fields(obj, where)
    if problems:
        return None, problems
    try:
        dims = ArchDims.from_json(obj["dims"])
    except (TypeError, ValueError) as e:
        return None, [f"{where}: bad dims ({e})"]
    problems += _check_dims(dims, where)
    bad_repos = [r for r in [obj["repo_id"], *obj["gguf_repos"]] if not isinstance(r, str) or not _REPO_ID.match(r)]
    problems += [f"{where}: '{r}' is not a repo id" for r in bad_repos]
    if bool(dims.n_expert) != ("active_params" in obj):
        problems.append(f"{where}: active_params belongs to mixture-of-experts models, and only to them")
    fields = {k: v for k, v in obj.items() if k != "dims"}
    fields["gguf_repos"] = tuple(obj["gguf_repos"])
    return CatalogEntry(dims=dims, **fields), problems


def parse_catalog(data: Any) -> Catalog:
    """Validate decoded catalog JSON and build the Catalog.

    Raises:
        CorruptInputError: listing every problem found, not just the first.
    """
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise CorruptInputError(f"The model catalog is not a version {SCHEMA_VERSION} catalog.")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise CorruptInputError("The model catalog lists no models.")
    entries: list[CatalogEntry] = []
    problems: list[str] = []
    for i, obj in enumerate(models):
        where = f"model #{i + 1} ({obj.get('repo_id', '?') if isinstance(obj, dict) else '?'})"
        entry, found = _entry(obj, where) if isinstance(obj, dict) else (None, [f"{where}: not an object"])
        problems += found
        if entry is not None:
            entries.append(entry)
    problems += _duplicates(e.repo_id for e in entries)
    if problems:
        raise CorruptInputError("The model catalog has errors: " + "; ".join(problems))
    return Catalog(tuple(entries))


def _duplicates(repo_ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dupes = []
    for r in repo_ids:
        if r.lower() in seen:
            dupes.append(f"{r} is listed twice")
        seen.add(r.lower())
    return dupes


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate the catalog (the bundled one by default, read once per process)."""
    return _load(path or CATALOG_PATH)


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CorruptInputError(f"The model catalog is missing ({path}).", "Reinstall Quantpick.") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptInputError(f"The model catalog cannot be read ({e}).", "Reinstall Quantpick.") from e
    return parse_catalog(data)
