"""Request handling for fake_hub.FakeHub: routing, auth, errors, search, tree, resolve and Range."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.unit.engine.hub.fake_hub import FakeHub, FakeRepo, Seen, git_oid

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")
_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_SORT_FIELDS = {"downloads", "likes", "trendingScore", "createdAt", "lastModified"}
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


class Routes:
    """Mixin for BaseHTTPRequestHandler; ``fake`` and ``name`` are set by fake_hub._handler."""

    fake: FakeHub
    name: str

    # -- plumbing ---------------------------------------------------------------------------------

    def _begin(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)  # type: ignore[attr-defined]
        path, query = unquote(parts.path), parse_qs(parts.query)
        headers = {k.lower(): v for k, v in self.headers.items()}  # type: ignore[attr-defined]
        self.fake.record(Seen(self.name, self.command, path, query, headers))  # type: ignore[attr-defined]
        return path, query

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              drop_after: int | None = None) -> None:
        """Send a response; ``drop_after`` hangs up after that many body bytes (Content-Length stays full)."""
        self.send_response(status)  # type: ignore[attr-defined]
        for k, v in (headers or {}).items():
            self.send_header(k, v)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))  # type: ignore[attr-defined]
        self.end_headers()  # type: ignore[attr-defined]
        if self.command == "HEAD":  # type: ignore[attr-defined]
            return
        if drop_after is not None:
            body = body[:drop_after]
        try:
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i:i + 65536])  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError):
            return
        if drop_after is not None:
            self.close_connection = True

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str | None, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._json({"error": message}, status, headers)

    def _token(self) -> str | None:
        auth = self.headers.get("authorization", "")  # type: ignore[attr-defined]
        return auth.removeprefix("Bearer ").strip() or None

    # -- dispatch ---------------------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path, query = self._begin()
        if self.name == "cdn":
            return self._cdn(path)
        token = self._token()
        if path != "/" and token is not None and token not in self.fake.valid_tokens:
            return self._error(401, None, "Invalid credentials in Authorization header")
        if path == "/":
            return self._send(200, b"ok", {"Content-Type": "text/plain"})
        if path == "/api/models":
            return self._search(query)
        for pattern, handler in ((_RESOLVE, self._resolve), (_TREE, self._tree), (_INFO, self._info)):
            m = pattern.match(path)
            if m:
                return handler(m.groupdict(), query)
        return self._error(404, None, "Not found")

    def _repo(self, repo_id: str) -> FakeRepo | None:
        repo = self.fake.repos.get(repo_id.lower())
        if repo is None:
            status = 404 if self._token() else 401
            self._error(status, "RepoNotFound", "Repository not found")
            return None
        if repo.repo_id.lower() in {r.lower() for r in self.fake.rate_limited}:
            self._error(429, None, "Too many requests",
                        {"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'})
            return None
        return repo

    # -- API ----------------------------------------------------------------------------------------

    def _search(self, query: dict[str, list[str]]) -> None:
        items = sorted(self.fake.repos.values(), key=lambda r: r.repo_id)
        text = query.get("search", [""])[0].lower()
        author = query.get("author", [""])[0].lower()
        items = [r for r in items if text in r.repo_id.lower()]
        if author:
            items = [r for r in items if r.repo_id.split("/")[0].lower() == author]
        for tag in query.get("filter", []):
            items = [r for r in items if tag in r.model_info().get("tags", [])]
        if "num_parameters" in query:
            items = [r for r in items if _in_range(r, query["num_parameters"][0])]
        sort = query.get("sort", [None])[0]
        if sort in _SORT_FIELDS:
            items.sort(key=lambda r: r.model_info()[sort], reverse=True)
        limit = int(query.get("limit", ["1000"])[0])
        start = int(query.get("cursor", ["0"])[0])
        page = items[start:start + min(limit, self.fake.page_size)]
        headers = {}
        if start + len(page) < len(items):
            nxt = {k: v for k, v in query.items() if k != "cursor"} | {"cursor": [str(start + len(page))]}
            headers["Link"] = f'<{self.fake.url}/api/models?{urlencode(nxt, doseq=True)}>; rel="next"'
        self._json([r.model_info(query.get("expand")) for r in page], headers=headers)

    def _info(self, m: dict[str, str], query: dict[str, list[str]]) -> None:
        repo = self._repo(m["repo"])
        if repo is None:
            return
        if m.get("rev") not in (None, "main", repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {m['rev']}")
        self._json(repo.model_info(query.get("expand")))

    def _tree(self, m: dict[str, str], query: dict[str, list[str]]) -> None:
        repo = self._repo(m["repo"])
        if repo is None:
            return
        entries = repo.tree()
        if m.get("path"):
            entries = [e for e in entries if e["path"].startswith(m["path"] + "/")]
        if query.get("recursive", ["False"])[0].lower() != "true":
            depth = m["path"].count("/") + 1 if m.get("path") else 0
            entries = [e for e in entries if e["path"].count("/") == depth]
        self._json(entries)

    def _resolve(self, m: dict[str, str], query: dict[str, list[str]]) -> None:
        repo = self._repo(m["repo"])
        if repo is None:
            return
        if repo.gated and self._token() not in self.fake.approved_tokens:
            if self._token() is None:
                return self._error(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted. You must have "
                                   "access to it and be authenticated to access it. Please log in.")
            return self._error(403, "GatedRepo", f"Access to model {repo.repo_id} is restricted and you are not in "
                               f"the authorized list. Visit https://huggingface.co/{repo.repo_id} to ask for access.")
        if m["rev"] not in ("main", repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {m['rev']}")
        data = repo.files.get(m["path"])
        if data is None:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.sha})
        common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if repo.is_lfs(m["path"]):
            sha256 = hashlib.sha256(data).hexdigest()
            return self._send(302, b"", {**common, "Location": f"{self.fake.cdn_url}/blobs/{sha256}",
                                         "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data)),
                                         "ETag": f'"{git_oid(data)}"'})
        self._ranged(data, {**common, "ETag": f'"{git_oid(data)}"', "Content-Type": "application/octet-stream"})

    # -- CDN ----------------------------------------------------------------------------------------

    def _cdn(self, path: str) -> None:
        data = self.fake.blob_for(path.removeprefix("/blobs/"))
        if data is None:
            return self._send(404, b"NoSuchKey")
        self._ranged(data, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "Content-Type": "binary/octet-stream"})

    def _ranged(self, data: bytes, headers: dict[str, str]) -> None:
        rng = self.headers.get("range")  # type: ignore[attr-defined]
        drop = None
        if self.command == "GET" and self.fake.drop_after is not None:  # type: ignore[attr-defined]
            drop, self.fake.drop_after = self.fake.drop_after, None
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m is None or self.fake.ignore_range:
            return self._send(200, data, headers, drop_after=drop)
        start, end = int(m[1]), int(m[2]) if m[2] else len(data) - 1
        if start >= len(data):
            return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
        end = min(end, len(data) - 1)
        part = data[start:end + 1]
        self._send(206, part, {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}, drop_after=drop)


def _in_range(repo: FakeRepo, spec: str) -> bool:
    info = repo.model_info()
    total = (info.get("safetensors") or info.get("gguf") or {}).get("total")
    if total is None:
        return False
    for part in spec.split(","):
        kind, _, value = part.partition(":")
        bound = float(value[:-1]) * _UNITS[value[-1]] if value[-1] in _UNITS else float(value)
        if (kind == "min" and total < bound) or (kind == "max" and total > bound):
            return False
    return True
