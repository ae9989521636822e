"""Fakes shared by the widget tests: a Hub client that never touches the network."""

from __future__ import annotations

import threading

import pytest

from engine.hub import (
    Catalog, GGUFVariant, ModelDetails, ModelSummary, RepoFile, SearchPage, SearchQuery, Source, load_catalog,
)


class FakeHub:
    """Answers like engine.hub.HubClient from canned data; records the queries and which thread asked."""

    def __init__(self, catalog: Catalog | None = None, *, pages: int = 2) -> None:
        self.catalog = catalog or load_catalog()
        self.queries: list[SearchQuery] = []
        self.threads: set[str] = set()
        self.pages = pages
        self.fail_details: Exception | None = None

    def search(self, query: SearchQuery) -> SearchPage:
        self.threads.add(threading.current_thread().name)
        self.queries.append(query)
        hits = tuple(
            ModelSummary(f"org/{query.text or 'model'}-{query.page}-{i}-GGUF", params=(i + 1) * 10**9,
                         downloads=1000 - i, has_gguf=True)
            for i in range(3)
        )
        return SearchPage(query, hits, has_more=query.page + 1 < self.pages)

    def details(self, repo_id: str) -> ModelDetails:
        self.threads.add(threading.current_thread().name)
        if self.fail_details is not None:
            raise self.fail_details
        gguf = RepoFile(f"{repo_id.split('/')[1]}-Q4_K_M.gguf", 4_920_000_000)
        variant = GGUFVariant("Q4_K_M", "Q4_K_M", (gguf,), gguf.size)
        return ModelDetails(repo_id, Source.HUB, license="apache-2.0", total_params=8_000_000_000,
                            gguf_variants=(variant,), files=(gguf,))

    def cached_models(self) -> list:
        return []


@pytest.fixture
def fake_hub() -> FakeHub:
    return FakeHub()
