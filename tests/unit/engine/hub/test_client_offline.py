"""Offline mode: a clear offline state, answers from the catalog and the cache, and recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from engine.errors import OfflineError
from engine.hub.catalog import load_catalog
from engine.hub.client import OFFLINE_RETRY_S, HubClient
from engine.hub.models import GGUFVariant, RepoFile, SearchQuery, Source
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.fake_hub import FakeHub


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_unreachable_hub_gives_an_offline_page_not_an_error(dead_endpoint: str, hf_cache: Path) -> None:
    client = HubClient(endpoint=dead_endpoint, token=False, cache_dir=hf_cache)
    page = client.search(SearchQuery(text="qwen3 8b"))
    assert page.offline and client.offline
    assert page.notice and "offline" in page.notice.lower()
    assert [r.repo_id for r in page.results] == ["Qwen/Qwen3-8B"]
    assert page.results[0].source is Source.CATALOG and page.results[0].params == 8_200_000_000


def test_offline_details_come_from_the_catalog(dead_endpoint: str, hf_cache: Path) -> None:
    client = HubClient(endpoint=dead_endpoint, token=False, cache_dir=hf_cache)
    d = client.details("google/gemma-3-4b-it")
    assert d.offline and d.source is Source.CATALOG
    assert d.dims is not None and (d.dims.n_swa, d.dims.swa_pattern) == (1024, 6)
    assert d.license == "gemma" and d.gated and "ggml-org/gemma-3-4b-it-GGUF" in d.gguf_repos
    with pytest.raises(OfflineError, match="neither downloaded nor in the catalog") as info:
        client.details("acme/unknown")
    assert "internet" in info.value.hint


def test_what_was_downloaded_stays_usable_offline(client: HubClient, fake_hub: FakeHub, hf_cache: Path) -> None:
    online = client.download_quant(corpus.GGUF_REPO, "Q4_K_M")
    client.details(corpus.ST_REPO)  # caches config.json
    fake_hub.stop()
    offline = HubClient(endpoint=fake_hub.url, token=False, cache_dir=hf_cache, offline=True, catalog=load_catalog())
    page = offline.search(SearchQuery(text="tiny"))
    cached = {r.repo_id: r for r in page.results}
    assert page.offline and cached[corpus.GGUF_REPO].source is Source.CACHE and cached[corpus.GGUF_REPO].has_gguf
    d = offline.details(corpus.GGUF_REPO)
    assert d.source is Source.CACHE and [v.name for v in d.gguf_variants] == ["Q4_K_M"]
    again = offline.download_quant(corpus.GGUF_REPO, "Q4_K_M")
    assert again.main_path == online.main_path and again.downloaded_bytes == 0
    not_cached = GGUFVariant("Q8_0", "Q8_0", (RepoFile("Tiny-Llama-Q8_0.gguf", 1024),), 1024)
    with pytest.raises(OfflineError, match="download"):
        offline.download_quant(corpus.GGUF_REPO, not_cached)
    st = offline.details(corpus.ST_REPO)
    assert st.source is Source.CACHE and st.dims is not None and st.dims.n_embd == 64  # cached config.json


def test_hf_hub_offline_is_respected(fake_hub: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    client = HubClient(endpoint=fake_hub.url, token=False, cache_dir=hf_cache)
    assert client.offline and client.search(SearchQuery(text="phi-4")).offline
    assert not fake_hub.requests  # nothing was sent


def test_forcing_modes_and_coming_back_online(fake_hub: FakeHub, hf_cache: Path) -> None:
    clock = Clock()
    client = HubClient(endpoint=fake_hub.url, token=False, cache_dir=hf_cache, clock=clock)
    fake_hub.stop()
    assert client.search(SearchQuery(text="tiny")).offline and client.offline
    fake_hub.start()  # the network comes back on the same address
    assert client.search(SearchQuery(text="tiny")).offline  # still inside the retry pause: no probe yet
    clock.now += OFFLINE_RETRY_S + 1
    assert not client.search(SearchQuery(text="tiny")).offline and not client.offline
    client.set_offline(True)
    seen = len(fake_hub.requests)
    assert client.search(SearchQuery(text="tiny")).offline and len(fake_hub.requests) == seen
    client.set_offline(None)
    assert not client.search(SearchQuery(text="tiny")).offline
