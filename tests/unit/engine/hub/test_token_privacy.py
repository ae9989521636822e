"""The token comes from huggingface_hub's store, is sent to the Hub only, and never reaches logs or files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from huggingface_hub import constants

from engine.errors import QuantpickError
from engine.hub.client import HubClient
from engine.hub.models import SearchQuery
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.conftest import TOKEN
from tests.unit.engine.hub.fake_hub import FakeHub


@pytest.fixture
def stored_token(hf_cache: Path) -> str:
    """A token saved the way `hf auth login` saves it."""
    path = Path(constants.HF_TOKEN_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TOKEN)
    return TOKEN


def test_the_stored_token_is_used_for_hub_requests(fake_hub: FakeHub, hf_cache: Path, stored_token: str) -> None:
    fake_hub.valid_tokens.add(stored_token)
    client = HubClient(endpoint=fake_hub.url, cache_dir=hf_cache)  # token=None: read huggingface_hub's store
    assert client.logged_in
    client.details(corpus.ST_REPO)
    assert fake_hub.seen("hub", "/api/models/")[-1].headers["authorization"] == f"Bearer {stored_token}"
    anonymous = HubClient(endpoint=fake_hub.url, token=False, cache_dir=hf_cache)
    anonymous.details(corpus.ST_REPO)
    assert "authorization" not in fake_hub.seen("hub", "/api/models/")[-1].headers


def test_the_token_never_appears_in_logs_errors_reprs_or_cache_files(
        fake_hub: FakeHub, hf_cache: Path, stored_token: str, caplog: pytest.LogCaptureFixture) -> None:
    fake_hub.valid_tokens.add(stored_token)
    fake_hub.approved_tokens.add(stored_token)
    caplog.set_level(logging.DEBUG)  # every logger, huggingface_hub's and httpx's included
    client = HubClient(endpoint=fake_hub.url, cache_dir=hf_cache)
    client.search(SearchQuery(text="tiny"))
    client.details(corpus.GATED_REPO)
    result = client.download_source(corpus.GATED_REPO)
    client.download_quant(corpus.GGUF_REPO, "IQ2_XXS")
    failures: list[str] = []
    fake_hub.approved_tokens.clear()
    fake_hub.rate_limited.add(corpus.ST_REPO)
    for action in (lambda: client.details("acme/nope"), lambda: client.details(corpus.ST_REPO)):
        with pytest.raises(QuantpickError) as info:
            action()
        failures.append(f"{info.value} {info.value.__cause__!r} {info.value.__cause__}")
    fake_hub.valid_tokens.clear()
    with pytest.raises(QuantpickError) as rejected:
        client.details(corpus.GGUF_REPO)
    failures.append(f"{rejected.value} {rejected.value.__cause__}")

    assert caplog.records, "the calls above must have logged something for this test to mean anything"
    assert stored_token not in caplog.text
    assert not [r for r in caplog.records if stored_token in r.getMessage()]
    assert not [f for f in failures if stored_token in f]
    assert stored_token not in repr(client)
    written = [p for p in hf_cache.rglob("*") if p.is_file() and p != Path(constants.HF_TOKEN_PATH)]
    assert result.paths and not [p for p in written if stored_token.encode() in p.read_bytes()]
