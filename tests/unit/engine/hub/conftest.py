"""Hub tests run against fake_hub on 127.0.0.1 with the HF cache and token store under tmp_path.

Every test gets a private HF_HOME, no token from the environment, small download chunks (so progress
and cancellation happen within small files), and a socket guard that refuses any address but loopback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants

from engine.hub.catalog import load_catalog
from engine.hub.client import HubClient
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.fake_hub import FakeHub

CHUNK = 64 * 1024
TOKEN = "hf_QuantpickTestTokenDoNotLeak0123456789"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HF_HOME for each test; returns its hub cache folder."""
    home = tmp_path / "hf-home"
    cache = home / "hub"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)
    return cache


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any name lookup or connection for something other than this machine."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup of {name} is blocked in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            raise OSError(f"network access to {host} is blocked in tests")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = corpus.build(FakeHub())
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def client(fake_hub: FakeHub, hf_cache: Path) -> HubClient:
    """An anonymous client of the fake Hub, caching under tmp_path."""
    return HubClient(endpoint=fake_hub.url, token=False, cache_dir=hf_cache, catalog=load_catalog())


@pytest.fixture
def dead_endpoint() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
