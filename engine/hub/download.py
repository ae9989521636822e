"""Resumable downloads into the normal Hugging Face cache, with progress and cancellation.

huggingface_hub 2.x writes each download to a throw-away temporary file and deletes it on failure, so a
cancelled 40 GB quant would start again from zero. We keep our partial file at the path older
huggingface_hub versions used (``blobs/<etag>.incomplete``, which ``scan_cache_dir`` reports), continue
it with an HTTP Range request through huggingface_hub's own ``http_get``, move it into place as
``blobs/<etag>``, and then let ``hf_hub_download`` do the cache bookkeeping (snapshot link, refs): it
finds the blob present and downloads nothing. The cache layout stays exactly huggingface_hub's.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub import HfFileMetadata, get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.file_download import http_get, repo_folder_name
from huggingface_hub.utils import WeakFileLock, build_hf_headers

from engine.errors import HubError, OutOfDiskError, UnsupportedInputError
from engine.hub.cache import default_cache_dir
from engine.hub.models import DownloadResult, RepoFile
from engine.hub.progress import CancelLike, TransferMeter, cancel_check, hook_tqdm, raise_if_cancelled
from engine.hub.translate import hub_errors
from engine.progress import ProgressFn, ignore_progress

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".incomplete"


@dataclass(frozen=True, slots=True)
class _Pending:
    """A file still to fetch: its Hub metadata and how much of it is already on disk."""

    file: RepoFile
    meta: HfFileMetadata
    blob: Path
    partial_bytes: int


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlparse(url)
    return p.scheme, (p.hostname or "").lower(), p.port


def _human(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "bytes" else f"{n} bytes"
        value /= 1024
    return f"{n} bytes"


def _plain_relative(path: str) -> bool:
    """A relative path of ordinary names: nothing that could land outside the folder it is joined to."""
    parts = path.replace("\\", "/").split("/")
    return bool(path) and "\0" not in path and ":" not in parts[0] and all(p not in ("", ".", "..") for p in parts)


def _refuse_unsafe_name(repo_id: str, path: str) -> None:
    """File names come from the Hub's listing, which the repo's owner controls."""
    if not _plain_relative(path):
        raise UnsupportedInputError(
            f"{repo_id} lists a file named {path!r}, which would be saved outside the download folder.",
            "Quantpick refuses such names. Ask the repository's owner to rename the file, or pick another repo.",
        )


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class Downloader:
    """Fetches repo files into the cache. One instance per client; safe to reuse, not thread-shared."""

    def __init__(self, *, endpoint: str, token: str | None, cache_dir: Path | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._cache_dir = cache_dir

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir if self._cache_dir is not None else default_cache_dir()

    def cached_path(self, repo_id: str, filename: str, revision: str) -> Path | None:
        _refuse_unsafe_name(repo_id, filename)
        found = try_to_load_from_cache(repo_id, filename, cache_dir=self.cache_dir, revision=revision)
        return Path(found) if isinstance(found, str) else None

    def fetch(self, repo_id: str, files: Sequence[RepoFile], *, revision: str = "main",
              on_progress: ProgressFn = ignore_progress, cancel: CancelLike = None) -> DownloadResult:
        """Download ``files`` of ``repo_id`` and return their cache paths.

        Files the cache already holds for ``revision`` are reused without asking the Hub (so a model
        downloaded once keeps working offline); the others are fetched, resuming partial data.

        Raises:
            CancelledError: ``cancel`` fired; partial data stays on disk and the next call resumes it.
            OutOfDiskError: not enough free space for what is left to download.
            AccessDeniedError, NotFoundError, OfflineError, RateLimitedError, HubError: see translate.py.
        """
        for f in files:
            _refuse_unsafe_name(repo_id, f.path)
        should_cancel = cancel_check(cancel)
        total = sum(f.size for f in files)
        meter = TransferMeter(total, on_progress)
        cached = {f.path: self.cached_path(repo_id, f.path, revision) for f in files}
        pending = [self._pending(repo_id, f, revision) for f in files if cached[f.path] is None]
        self._check_space(pending)
        by_path = {p.file.path: p for p in pending}
        paths: list[Path] = []
        for i, f in enumerate(files, 1):
            raise_if_cancelled(should_cancel)
            meter.begin_file(f"{f.path} ({i}/{len(files)})")
            item = by_path.get(f.path)
            if item is None:
                paths.append(cached[f.path])  # type: ignore[arg-type]
            else:
                paths.append(self._fetch_one(repo_id, item, revision, meter, should_cancel))
            meter.end_file(f.size)
        snapshot = next((q for q in paths[0].parents if q.parent.name == "snapshots"), None) if paths else None
        return DownloadResult(repo_id, snapshot.name if snapshot else revision, tuple(paths), total, meter.moved)

    def _pending(self, repo_id: str, f: RepoFile, revision: str) -> _Pending:
        url = hf_hub_url(repo_id, f.path, revision=revision, endpoint=self.endpoint)
        with hub_errors(repo_id, filename=f.path, logged_in=self._token is not None):
            meta = get_hf_file_metadata(url, token=self._token or False, endpoint=self.endpoint)
        storage = self.cache_dir / repo_folder_name(repo_id=repo_id, repo_type="model")
        if not _plain_relative(str(meta.etag)) or "/" in str(meta.etag) or "\\" in str(meta.etag):
            raise HubError(f"The Hub answered for {f.path} with an unusable file id {str(meta.etag)!r}.")
        blob = storage / "blobs" / str(meta.etag)
        partial = blob.with_name(blob.name + PARTIAL_SUFFIX)
        have = partial.stat().st_size if partial.exists() else 0
        if meta.size is not None and have > meta.size:
            partial.unlink()  # not a prefix of this file: start over
            have = 0
        return _Pending(f, meta, blob, 0 if blob.exists() else have)

    def _check_space(self, pending: Sequence[_Pending]) -> None:
        needed = sum(max((p.meta.size or p.file.size) - p.partial_bytes, 0) for p in pending if not p.blob.exists())
        if not needed:
            return
        free = shutil.disk_usage(_existing_ancestor(self.cache_dir)).free
        if free < needed:
            raise OutOfDiskError(
                f"This download needs {_human(needed)} more, but only {_human(free)} is free where the "
                f"Hugging Face cache lives ({self.cache_dir}).",
                "Free some disk space, or point HF_HOME at a bigger drive, then try again.",
            )

    def _fetch_one(self, repo_id: str, item: _Pending, revision: str, meter: TransferMeter,
                   should_cancel: Callable[[], bool]) -> Path:
        tqdm_class = hook_tqdm(meter, should_cancel)
        logged_in = self._token is not None
        if not item.blob.exists():
            # The lock huggingface_hub takes for this blob: two processes never append to one partial file.
            folder = repo_folder_name(repo_id=repo_id, repo_type="model")
            lock = self.cache_dir / ".locks" / folder / f"{item.blob.name}.lock"
            lock.parent.mkdir(parents=True, exist_ok=True)
            with WeakFileLock(lock), hub_errors(repo_id, filename=item.file.path, logged_in=logged_in):
                if not item.blob.exists():
                    self._transfer(item, tqdm_class)
        with hub_errors(repo_id, filename=item.file.path, logged_in=logged_in):
            path = hf_hub_download(repo_id, item.file.path, revision=revision, cache_dir=self.cache_dir,
                                   endpoint=self.endpoint, token=self._token or False, tqdm_class=tqdm_class)
        return Path(path)

    def _transfer(self, item: _Pending, tqdm_class: type) -> None:
        """Fetch the blob, continuing ``blobs/<etag>.incomplete`` with a Range request if it exists."""
        partial = item.blob.with_name(item.blob.name + PARTIAL_SUFFIX)
        partial.parent.mkdir(parents=True, exist_ok=True)
        headers = build_hf_headers(token=self._token or False)
        if _origin(item.meta.location) != _origin(self.endpoint):
            headers.pop("authorization", None)  # a CDN link is signed; the token must not leave the Hub
        resume = partial.stat().st_size if partial.exists() else 0
        log.debug("fetching %s (%d bytes already on disk)", item.file.path, resume)
        with open(partial, "r+b" if resume else "wb") as fh:
            fh.seek(resume)
            try:
                http_get(item.meta.location, fh, resume_size=resume, headers=headers,
                         expected_size=item.meta.size, displayed_filename=item.file.name, tqdm_class=tqdm_class)
            except OSError:
                fh.flush()
                if item.meta.size is not None and os.fstat(fh.fileno()).st_size > item.meta.size:
                    fh.truncate(0)  # overlong: cannot be a prefix, so never resume from it
                raise
        os.replace(partial, item.blob)
