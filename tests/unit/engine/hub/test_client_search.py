"""HubClient.search against the fake Hub: filters, sorting, parameter range, paging, result fields."""

from __future__ import annotations

from engine.hub.client import HubClient, param_range
from engine.hub.models import SearchQuery, SortKey, Source
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.fake_hub import FakeHub


def ids(page: object) -> list[str]:
    return [r.repo_id for r in page.results]  # type: ignore[attr-defined]


def test_text_search_sorted_by_downloads_with_result_fields(client: HubClient, fake_hub: FakeHub) -> None:
    page = client.search(SearchQuery(text="tiny-llama"))
    assert not page.offline and page.notice is None
    assert ids(page) == [corpus.GGUF_REPO, corpus.ST_REPO, corpus.ST_NOMETA_REPO]
    gguf = page.results[0]
    assert gguf.source is Source.HUB and gguf.has_gguf and gguf.params == 1235814432
    assert (gguf.downloads, gguf.likes, gguf.author) == (5000, 40, "bartowski")
    assert gguf.last_modified is not None and gguf.last_modified.year == 2025
    st = page.results[1]
    assert not st.has_gguf and st.params == sum(corpus.TINY_PARAMS.values())
    (request,) = fake_hub.seen("hub", "/api/models")
    assert request.query["search"] == ["tiny-llama"] and request.query["sort"] == ["downloads"]
    assert {"downloads", "safetensors", "gguf", "gated"} <= set(request.query["expand"])


def test_gguf_only_author_and_parameter_range(client: HubClient, fake_hub: FakeHub) -> None:
    assert ids(client.search(SearchQuery(text="model", gguf_only=True, sort=SortKey.LIKES))) == [
        "acme/model-a", "acme/model-c", "other/model-d"]
    assert ids(client.search(SearchQuery(author="other", sort=SortKey.TRENDING))) == ["other/model-d", "other/model-e"]
    ranged = client.search(SearchQuery(text="model", min_params=2e9, max_params=20e9))
    assert set(ids(ranged)) == {"acme/model-a", "other/model-d", "other/model-e"}
    assert fake_hub.seen("hub", "/api/models")[-1].query["num_parameters"] == ["min:2B,max:20B"]


def test_gated_flag_in_results(client: HubClient) -> None:
    (hit,) = client.search(SearchQuery(text="Llama-3.2-1B")).results
    assert hit.repo_id == corpus.GATED_REPO and hit.gated


def test_pages_follow_the_hubs_link_headers(client: HubClient, fake_hub: FakeHub) -> None:
    fake_hub.page_size = 2  # the server answers two at a time, so later pages need Link pagination
    by_downloads = ["acme/model-a", "acme/model-b", "acme/model-c", "other/model-d", "other/model-e"]
    by_downloads.sort(key=lambda r: -fake_hub.repos[r].info["downloads"])
    first = client.search(SearchQuery(text="model", page_size=2))
    second = client.search(SearchQuery(text="model", page_size=2, page=1))
    last = client.search(SearchQuery(text="model", page_size=2, page=2))
    assert ids(first) + ids(second) + ids(last) == by_downloads
    assert first.has_more and second.has_more and not last.has_more
    assert any("cursor" in r.query for r in fake_hub.seen("hub", "/api/models"))


def test_sort_orders_map_to_the_hubs_names(client: HubClient, fake_hub: FakeHub) -> None:
    for key, wire in [(SortKey.RECENT, "createdAt"), (SortKey.UPDATED, "lastModified"),
                      (SortKey.TRENDING, "trendingScore"), (SortKey.LIKES, "likes")]:
        client.search(SearchQuery(text="model", sort=key))
        assert fake_hub.seen("hub", "/api/models")[-1].query["sort"] == [wire]


def test_parameter_range_syntax() -> None:
    assert param_range(SearchQuery()) is None
    assert param_range(SearchQuery(min_params=500e6)) == "min:500M"
    assert param_range(SearchQuery(min_params=1.5e9, max_params=1.2e12)) == "min:1.5B,max:1.2T"
