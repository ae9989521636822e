"""A small stand-in for huggingface.co on 127.0.0.1, answering the endpoints huggingface_hub 2.4 calls.

Two servers, like the real thing: the Hub (``/api/models`` search with Link pagination, model info,
recursive tree listing, ``/{repo}/resolve/{rev}/{file}``) and a CDN on another port that serves LFS
blobs with Range support. Resolve answers for LFS files redirect to the CDN with the ``X-Linked-*``
headers; errors carry the ``X-Error-Code`` / ``X-Error-Message`` headers huggingface_hub maps to its
exceptions (GatedRepo, RepoNotFound, EntryNotFound) and 429 carries the IETF RateLimit headers. JSON
shapes follow real responses (camelCase keys, ``lfs.pointerSize``, ``gguf``/``safetensors`` blocks).
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pth")


def blob(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A valid safetensors file: 8-byte header length, JSON header, zero-filled data."""
    sizes = {"BF16": 2, "F16": 2, "F32": 4}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


@dataclass
class FakeRepo:
    """One model repo: its files and what model_info says about it."""

    repo_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    gated: str | bool = False

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.repo_id.encode()).hexdigest()

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def tree(self) -> list[dict[str, Any]]:
        folders = sorted({p.rsplit("/", 1)[0] for p in self.files if "/" in p})
        out: list[dict[str, Any]] = [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0,
                                      "path": d} for d in folders]
        for path, data in sorted(self.files.items()):
            entry: dict[str, Any] = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
            if self.is_lfs(path):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            out.append(entry)
        return out

    def model_info(self, expand: list[str] | None = None) -> dict[str, Any]:
        full = {
            "_id": self.sha[:24], "id": self.repo_id, "modelId": self.repo_id, "author": self.repo_id.split("/")[0],
            "sha": self.sha, "private": False, "disabled": False, "gated": self.gated,
            "lastModified": "2025-01-20T10:00:00.000Z", "createdAt": "2024-09-25T14:00:00.000Z",
            "downloads": 0, "likes": 0, "trendingScore": 0, "tags": [], "library_name": "transformers",
            "pipeline_tag": "text-generation", "siblings": [{"rfilename": p} for p in sorted(self.files)],
            "spaces": [], "usedStorage": sum(len(d) for d in self.files.values()),
            **self.info,
        }
        if expand:
            return {k: v for k, v in full.items() if k in {"_id", "id", *expand}}
        return full


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Seen:
    """A request the fake servers received."""

    server: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeHub:
    """Start with ``start()``; ``url`` is the endpoint for HfApi; ``requests`` records every call.

    ``approved_tokens`` may read gated repos; ``valid_tokens`` are tokens the Hub accepts at all;
    ``rate_limited`` repos answer 429; ``page_size`` caps search pages so Link pagination happens;
    ``drop_after`` makes the CDN hang up after that many bytes once; ``ignore_range`` serves 200s.
    """

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.approved_tokens: set[str] = set()
        self.valid_tokens: set[str] = set()
        self.rate_limited: set[str] = set()
        self.page_size = 3
        self.drop_after: int | None = None
        self.ignore_range = False
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._servers: list[Any] = []

    def add(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.repo_id.lower()] = repo
        return repo

    def start(self) -> None:
        """Listen on two free ports (or, after ``stop``, on the same ports again)."""
        ports = [s.server_address[1] for s in self._servers] or [0, 0]
        self._servers = []
        for name, port in zip(("hub", "cdn"), ports):
            server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self, name))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
            self._servers.append(server)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = [_Stopped(s.server_address) for s in self._servers]  # type: ignore[misc]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def seen(self, server: str | None = None, path_part: str = "") -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if (server is None or r.server == server) and path_part in r.path]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def blob_for(self, sha256: str) -> bytes | None:
        for repo in self.repos.values():
            for data in repo.files.values():
                if hashlib.sha256(data).hexdigest() == sha256:
                    return data
        return None


@dataclass
class _Stopped:
    """Remembers a stopped server's address so ``url`` stays valid and ``start`` reuses the port."""

    server_address: Any

    def shutdown(self) -> None:
        pass

    def server_close(self) -> None:
        pass


def _handler(hub: FakeHub, server_name: str) -> type[BaseHTTPRequestHandler]:
    from tests.unit.engine.hub.fake_routes import Routes

    class Handler(Routes, BaseHTTPRequestHandler):
        fake = hub
        name = server_name

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler
