"""HubClient: the model picker's one door to the Hugging Face Hub, which keeps working offline.

Online it wraps ``HfApi(endpoint=..., token=...)``: search, model details without weights, downloads.
When the Hub cannot be reached it says so (``offline`` / ``SearchPage.offline``) and answers from the
bundled catalog and the local cache instead of failing. Reachability is checked with one quick HEAD
request, because huggingface_hub retries a dead connection for ~20 s before giving up.

The token comes from huggingface_hub's own store (``get_token``) unless one is passed in. It lives only
in this object's memory and in request headers: it is never logged, shown or written anywhere.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import HfApi, constants, get_token, hf_hub_download
from huggingface_hub import RepoFile as HfRepoFile
from huggingface_hub.errors import NotASafetensorsRepoError, OfflineModeIsEnabled, SafetensorsParsingError
from huggingface_hub.utils import get_session

from engine.errors import AccessDeniedError, OfflineError, UnsupportedInputError, UsageError
from engine.hub.cache import find_cached, read_cached_config, scan_cache
from engine.hub.catalog import Catalog, load_catalog
from engine.hub.details import build_details, params_by_dtype, source_files, summary_from_info
from engine.hub.download import Downloader
from engine.hub.models import (
    CachedModel,
    DownloadResult,
    GGUFVariant,
    ModelDetails,
    ModelSummary,
    RepoFile,
    SearchPage,
    SearchQuery,
    Source,
)
from engine.hub.progress import CancelLike, quiet_tqdm
from engine.hub.translate import hub_errors
from engine.progress import ProgressFn, ignore_progress

log = logging.getLogger(__name__)

ONLINE_TTL_S = 60.0  # trust a successful contact this long before probing again
OFFLINE_RETRY_S = 15.0  # after a failed probe, stay offline this long before trying again
_SEARCH_EXPAND = ["author", "downloads", "likes", "trendingScore", "lastModified", "createdAt", "gated",
                  "tags", "pipeline_tag", "library_name", "safetensors", "gguf"]


def _param_bound(n: float) -> str:
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return f"{int(n)}"


def param_range(query: SearchQuery) -> str | None:
    """The Hub's ``num_parameters`` filter, e.g. ``min:6B,max:128B``."""
    parts = []
    if query.min_params is not None:
        parts.append(f"min:{_param_bound(query.min_params)}")
    if query.max_params is not None:
        parts.append(f"max:{_param_bound(query.max_params)}")
    return ",".join(parts) or None


def _page(query: SearchQuery, hits: list[ModelSummary]) -> tuple[tuple[ModelSummary, ...], bool]:
    start = query.page * query.page_size
    return tuple(hits[start:start + query.page_size]), len(hits) > start + query.page_size


class HubClient:
    """Search, inspect and download Hub models; falls back to catalog + cache when offline.

    Args:
        endpoint: Hub URL (default: huggingface_hub's, i.e. HF_ENDPOINT or https://huggingface.co).
        token: a token; None reads huggingface_hub's store (``get_token``); False never sends one.
        cache_dir: Hugging Face cache folder (default: huggingface_hub's, from HF_HOME / HF_HUB_CACHE).
        offline: True or False forces the mode; None decides from HF_HUB_OFFLINE and reachability.
        catalog: the offline catalog (default: resources/catalog.json).
    """

    def __init__(self, *, endpoint: str | None = None, token: str | bool | None = None,
                 cache_dir: str | Path | None = None, offline: bool | None = None, catalog: Catalog | None = None,
                 probe_timeout_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self._token: str | None = get_token() if token is None or token is True else (token or None)
        self._api = HfApi(endpoint=self.endpoint, token=self._token or False)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._forced = offline
        self._catalog = catalog
        self._probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._last_ok: float | None = None
        self._offline_since: float | None = None
        self._downloader = Downloader(endpoint=self.endpoint, token=self._token, cache_dir=self._cache_dir)

    def __repr__(self) -> str:  # never the token
        return f"HubClient(endpoint={self.endpoint!r}, logged_in={self.logged_in}, offline={self.offline})"

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    # -- connectivity -------------------------------------------------------------------------------

    @property
    def offline(self) -> bool:
        """True when forced offline, when HF_HUB_OFFLINE is set, or after the Hub proved unreachable."""
        if self._forced is not None:
            return self._forced
        return constants.is_offline_mode() or self._offline_since is not None

    def set_offline(self, offline: bool | None) -> None:
        """Force offline (True), force online (False), or decide automatically again (None)."""
        self._forced = offline
        self._offline_since = None

    def check_connection(self) -> bool:
        """Probe the Hub once (a HEAD, no retries) and remember the answer."""
        try:
            get_session().head(f"{self.endpoint}/", timeout=self._probe_timeout_s)
        except (httpx2.TransportError, OfflineModeIsEnabled) as e:
            log.info("Hugging Face is not reachable (%s); working offline", type(e).__name__)
            self._went_offline()
            return False
        self._last_ok, self._offline_since = self._clock(), None
        return True

    def _went_offline(self) -> None:
        self._last_ok, self._offline_since = None, self._clock()

    def _online(self) -> bool:
        if self._forced is not None:
            return not self._forced
        if constants.is_offline_mode():
            return False
        now = self._clock()
        if self._last_ok is not None and now - self._last_ok < ONLINE_TTL_S:
            return True
        if self._offline_since is not None and now - self._offline_since < OFFLINE_RETRY_S:
            return False
        return self.check_connection()

    # -- search -------------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of search results; offline, a page from the catalog and the cache (``offline=True``).

        Raises:
            RateLimitedError, AccessDeniedError, HubError: the Hub answered with an error.
        """
        if not self._online():
            return self._offline_page(query, "Working offline: showing the built-in catalog and downloaded models.")
        try:
            with hub_errors(logged_in=self.logged_in):
                infos = list(self._api.list_models(
                    search=query.text or None, author=query.author or None,
                    filter="gguf" if query.gguf_only else None, sort=query.sort.value,
                    num_parameters=param_range(query), limit=(query.page + 1) * query.page_size + 1,
                    expand=_SEARCH_EXPAND,  # type: ignore[arg-type]
                ))
        except OfflineError as e:
            self._went_offline()
            return self._offline_page(query, f"{e.message} Showing the built-in catalog and downloaded models.")
        self._last_ok = self._clock()
        results, has_more = _page(query, [summary_from_info(i) for i in infos])
        return SearchPage(query, results, has_more)

    def _offline_page(self, query: SearchQuery, notice: str) -> SearchPage:
        hits = [h for h in (self._cached_hit(m, query) for m in self.cached_models()) if h is not None]
        seen = {h.repo_id.lower() for h in hits}
        hits += [e.to_summary() for e in self.catalog.search(query) if e.repo_id.lower() not in seen]
        results, has_more = _page(query, hits)
        return SearchPage(query, results, has_more, offline=True, notice=notice)

    def _cached_hit(self, model: CachedModel, query: SearchQuery) -> ModelSummary | None:
        author = model.repo_id.split("/")[0]
        if any(w not in model.repo_id.lower() for w in query.text.lower().split()):
            return None
        if (query.gguf_only and not model.gguf_variants) or (query.author and author.lower() != query.author.lower()):
            return None
        entry = self.catalog.get(model.repo_id)
        return ModelSummary(repo_id=model.repo_id, author=author, params=entry.params if entry else None,
                            has_gguf=bool(model.gguf_variants), gated=bool(entry and entry.gated), source=Source.CACHE)

    # -- details ------------------------------------------------------------------------------------

    def details(self, repo_id: str, *, revision: str | None = None) -> ModelDetails:
        """Everything about a repo without downloading weights (config.json is fetched into the cache).

        Offline, details come from the cache or the catalog (``details.offline`` is True).

        Raises:
            NotFoundError, AccessDeniedError, RateLimitedError, HubError: the Hub refused.
            OfflineError: offline, and the model is neither cached nor in the catalog.
        """
        if not self._online():
            return self._offline_details(repo_id)
        try:
            return self._hub_details(repo_id, revision)
        except OfflineError:
            self._went_offline()
            return self._offline_details(repo_id)

    def _hub_details(self, repo_id: str, revision: str | None) -> ModelDetails:
        with hub_errors(repo_id, logged_in=self.logged_in):
            info = self._api.model_info(repo_id, revision=revision)
            files = [RepoFile(e.path, e.size, e.lfs.sha256 if e.lfs else None)
                     for e in self._api.list_repo_tree(repo_id, recursive=True, revision=revision)
                     if isinstance(e, HfRepoFile)]
        self._last_ok = self._clock()
        config = self._config(repo_id, files, revision) if any(f.path == "config.json" for f in files) else None
        params = params_by_dtype(info)
        if not params and any(f.path.endswith(".safetensors") for f in files):
            params = self._safetensors_params(repo_id, revision)
        return build_details(repo_id, source=Source.HUB, files=files, info=info, config=config, params=params,
                             catalog=self.catalog)

    def _config(self, repo_id: str, files: list[RepoFile], revision: str | None) -> dict[str, Any] | None:
        try:
            with hub_errors(repo_id, filename="config.json", logged_in=self.logged_in):
                path = hf_hub_download(repo_id, "config.json", revision=revision, cache_dir=self._downloader.cache_dir,
                                       endpoint=self.endpoint, token=self._token or False, tqdm_class=quiet_tqdm())
        except AccessDeniedError:
            return None  # gated: the listing is public, the files are not; the catalog may still know it
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def _safetensors_params(self, repo_id: str, revision: str | None) -> dict[str, int]:
        """Parameter counts read from safetensors headers (range requests) when the Hub lists none."""
        try:
            with hub_errors(repo_id, logged_in=self.logged_in):
                meta = self._api.get_safetensors_metadata(repo_id, revision=revision)
        except (AccessDeniedError, NotASafetensorsRepoError, SafetensorsParsingError):
            return {}
        return dict(meta.parameter_count)

    def _offline_details(self, repo_id: str) -> ModelDetails:
        cached = find_cached(repo_id, self._downloader.cache_dir)
        if cached is not None:
            return build_details(repo_id, source=Source.CACHE, files=cached.files,
                                 config=read_cached_config(cached), catalog=self.catalog)
        if self.catalog.get(repo_id) is not None:
            return build_details(repo_id, source=Source.CATALOG, files=(), catalog=self.catalog)
        raise OfflineError(f"Cannot reach Hugging Face, and {repo_id} is neither downloaded nor in the catalog.",
                           "Connect to the internet, or pick a model from the catalog or from this computer.")

    # -- local cache and downloads ------------------------------------------------------------------

    def cached_models(self) -> list[CachedModel]:
        """Models already in the Hugging Face cache (most recent first)."""
        return scan_cache(self._downloader.cache_dir)

    def download_quant(self, repo_id: str, quant: str | GGUFVariant, *, revision: str | None = None,
                       on_progress: ProgressFn = ignore_progress, cancel: CancelLike = None) -> DownloadResult:
        """Download one GGUF quant (every shard of it) into the cache; ``main_path`` is the first shard.

        Raises:
            UsageError: the repo has no such quant (the hint lists those it has).
            CancelledError, OutOfDiskError, OfflineError, AccessDeniedError, NotFoundError, HubError.
        """
        variant = quant if isinstance(quant, GGUFVariant) else None
        if variant is None:
            details = self.details(repo_id, revision=revision)
            variant = details.variant(str(quant))
            if variant is None:
                names = ", ".join(v.name for v in details.gguf_variants) or "none"
                raise UsageError(f"{repo_id} has no {quant} GGUF file.", f"Quants in this repo: {names}.")
        return self.download_files(repo_id, list(variant.files), revision=revision, on_progress=on_progress,
                                   cancel=cancel)

    def download_source(self, repo_id: str, *, revision: str | None = None,
                        on_progress: ProgressFn = ignore_progress, cancel: CancelLike = None) -> DownloadResult:
        """Download the safetensors weights, config and tokenizer files (what a conversion reads).

        ``snapshot_dir`` of the result is the model folder to convert.
        """
        files = source_files(self.details(repo_id, revision=revision).files)
        if not any(f.path.endswith(".safetensors") for f in files):
            raise UnsupportedInputError(f"{repo_id} has no safetensors weights to convert.",
                                        "Pick a repo with .safetensors files, or download one of its GGUF quants.")
        files.sort(key=lambda f: (f.path != "config.json", f.path.endswith(".safetensors"), f.path))
        return self.download_files(repo_id, files, revision=revision, on_progress=on_progress, cancel=cancel)

    def download_files(self, repo_id: str, files: list[RepoFile], *, revision: str | None = None,
                       on_progress: ProgressFn = ignore_progress, cancel: CancelLike = None) -> DownloadResult:
        """Download chosen files of a repo (e.g. from ``details().files``); cached ones are reused.

        Offline, succeeds only if every file is already in the cache.
        """
        if not files:
            raise UsageError(f"Nothing to download from {repo_id}.", "Choose at least one file.")
        rev = revision or "main"
        if not self._online():
            paths = [self._downloader.cached_path(repo_id, f.path, rev) for f in files]
            if all(p is not None for p in paths):
                return DownloadResult(repo_id, rev, tuple(p for p in paths if p is not None),
                                      sum(f.size for f in files), 0)
            raise OfflineError(f"Cannot reach Hugging Face to download {repo_id}.")
        try:
            return self._downloader.fetch(repo_id, files, revision=rev, on_progress=on_progress, cancel=cancel)
        except OfflineError:
            self._went_offline()
            raise
