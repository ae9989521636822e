"""Models already on disk in the Hugging Face cache, found with huggingface_hub's ``scan_cache_dir``.

People have usually downloaded models before with other tools; reusing them saves hours. A scan never
fails the caller: a missing cache is empty, and repos the scanner calls corrupted are skipped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from huggingface_hub import constants, scan_cache_dir
from huggingface_hub.errors import CacheNotFound
from huggingface_hub.utils import CachedRepoInfo, CachedRevisionInfo, HFCacheInfo

from engine.hub.models import CachedModel, RepoFile
from engine.hub.quants import group_gguf

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The cache huggingface_hub uses (HF_HUB_CACHE / HF_HOME), read at call time."""
    return Path(constants.HF_HUB_CACHE)


def _newest_revision(repo: CachedRepoInfo) -> CachedRevisionInfo:
    # Prefer what "main" points at; otherwise the most recently written snapshot.
    on_main = [r for r in repo.revisions if "main" in r.refs]
    return on_main[0] if on_main else max(repo.revisions, key=lambda r: r.last_modified)


def _cached_model(repo: CachedRepoInfo, incomplete: dict[Path, int]) -> CachedModel | None:
    if not repo.revisions:
        return None
    rev = _newest_revision(repo)
    files = tuple(sorted(
        (RepoFile(path=f.file_path.relative_to(rev.snapshot_path).as_posix(), size=f.size_on_disk) for f in rev.files),
        key=lambda f: f.path,
    ))
    names = {f.path for f in files}
    convertible = "config.json" in names and any(n.endswith(".safetensors") and "/" not in n for n in names)
    return CachedModel(
        repo_id=repo.repo_id, snapshot=rev.snapshot_path, size_on_disk=repo.size_on_disk, files=files,
        revision=rev.commit_hash, refs=tuple(sorted(rev.refs)), last_modified=repo.last_modified,
        gguf_variants=group_gguf(files).variants, convertible=convertible,
        incomplete_bytes=incomplete.get(repo.repo_path, 0),
    )


def _scan(cache_dir: str | Path | None) -> HFCacheInfo | None:
    try:
        info = scan_cache_dir(cache_dir if cache_dir is not None else default_cache_dir())
    except (CacheNotFound, ValueError, OSError) as e:
        log.debug("no usable Hugging Face cache: %s", e)
        return None
    for warning in info.warnings:
        log.debug("cache entry skipped by the scanner: %s", warning)
    return info


def _incomplete_by_folder(info: HFCacheInfo) -> dict[Path, int]:
    incomplete: dict[Path, int] = {}
    for f in info.incomplete_files:
        repo_path = f.file_path.parent.parent  # <repo>/blobs/<etag>.incomplete
        incomplete[repo_path] = incomplete.get(repo_path, 0) + f.size_on_disk
    return incomplete


def scan_cache(cache_dir: str | Path | None = None) -> list[CachedModel]:
    """Every model repo in the cache with at least one snapshot, most recently used first."""
    info = _scan(cache_dir)
    if info is None:
        return []
    incomplete = _incomplete_by_folder(info)
    models = [_cached_model(r, incomplete) for r in info.repos if r.repo_type == "model"]
    return sorted((m for m in models if m is not None), key=lambda m: m.last_modified, reverse=True)


def partial_downloads(cache_dir: str | Path | None = None) -> dict[str, int]:
    """Bytes of unfinished downloads per model repo id (what a retry will resume from)."""
    info = _scan(cache_dir)
    if info is None:
        return {}
    out: dict[str, int] = {}
    for folder, size in _incomplete_by_folder(info).items():
        kind, _, rest = folder.name.partition("--")
        if kind == "models" and rest:
            repo_id = rest.replace("--", "/", 1)
            out[repo_id] = out.get(repo_id, 0) + size
    return out


def find_cached(repo_id: str, cache_dir: str | Path | None = None) -> CachedModel | None:
    key = repo_id.lower()
    return next((m for m in scan_cache(cache_dir) if m.repo_id.lower() == key), None)


def read_cached_config(model: CachedModel) -> dict[str, Any] | None:
    """The snapshot's config.json, or None if absent or unreadable."""
    path = model.snapshot / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
