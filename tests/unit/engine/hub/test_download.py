"""Downloads into the HF cache: progress, cancellation, resume, split quants, source files, failures."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

import pytest

from engine.errors import AccessDeniedError, CancelledError, NotFoundError, OutOfDiskError, UsageError
from engine.hub.cache import partial_downloads
from engine.hub.client import HubClient
from engine.hub.download import PARTIAL_SUFFIX
from engine.hub.models import RepoFile
from engine.progress import CancelToken, Progress
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.conftest import CHUNK, TOKEN
from tests.unit.engine.hub.fake_hub import FakeHub

Q8 = "Tiny-Llama-Q8_0.gguf"


def content(fake_hub: FakeHub, path: str, repo: str = corpus.GGUF_REPO) -> bytes:
    return fake_hub.repos[repo.lower()].files[path]


def partials(cache: Path) -> list[Path]:
    return list(cache.rglob(f"*{PARTIAL_SUFFIX}"))


def test_one_quant_lands_in_the_normal_cache_with_progress(client: HubClient, fake_hub: FakeHub,
                                                         hf_cache: Path) -> None:
    seen: list[Progress] = []
    result = client.download_quant(corpus.GGUF_REPO, "Q8_0", on_progress=seen.append)
    data = content(fake_hub, Q8)
    assert result.main_path.read_bytes() == data
    repo_dir = hf_cache / "models--bartowski--Tiny-Llama-GGUF"
    assert result.main_path == repo_dir / "snapshots" / result.revision / Q8
    assert result.main_path.is_symlink()  # huggingface_hub's own layout: snapshot link -> blob
    assert (repo_dir / "blobs" / hashlib.sha256(data).hexdigest()).stat().st_size == len(data)
    assert (repo_dir / "refs" / "main").read_text() == result.revision
    assert (result.total_bytes, result.downloaded_bytes) == (len(data), len(data))
    dones = [p.done for p in seen]
    assert dones == sorted(dones) and dones[-1] == len(data) and len(seen) > len(data) // CHUNK
    assert all(p.total == len(data) for p in seen) and seen[-1].eta_s == 0.0
    assert any(p.rate > 0 for p in seen) and "Tiny-Llama-Q8_0.gguf (1/1)" in seen[-1].current
    assert not partials(hf_cache)
    assert [r.path for r in fake_hub.seen("cdn")] == [f"/blobs/{hashlib.sha256(data).hexdigest()}"]  # one fetch


def test_a_split_quant_downloads_every_shard_and_a_second_call_reuses_the_cache(
        client: HubClient, fake_hub: FakeHub) -> None:
    first = client.download_quant(corpus.GGUF_REPO, "Q6_K")
    assert [p.name for p in first.paths] == [f"Tiny-Llama-Q6_K-0000{i}-of-00002.gguf" for i in (1, 2)]
    assert first.main_path.parent.name == "Tiny-Llama-Q6_K"
    assert all(p.read_bytes() == content(fake_hub, f"Tiny-Llama-Q6_K/{p.name}") for p in first.paths)
    fetched = len(fake_hub.seen("cdn"))
    again = client.download_quant(corpus.GGUF_REPO, "Q6_K")
    assert again.paths == first.paths and again.downloaded_bytes == 0 and len(fake_hub.seen("cdn")) == fetched


def test_cancel_keeps_the_partial_file_and_the_retry_resumes_with_a_range(
        client: HubClient, fake_hub: FakeHub, hf_cache: Path) -> None:
    token = CancelToken()

    def stop_halfway(p: Progress) -> None:
        if p.done >= 5 * CHUNK:
            token.cancel()

    with pytest.raises(CancelledError, match="cancelled") as info:
        client.download_quant(corpus.GGUF_REPO, "Q8_0", on_progress=stop_halfway, cancel=token)
    assert "resume" in info.value.hint
    (partial,) = partials(hf_cache)
    kept = partial.stat().st_size
    data = content(fake_hub, Q8)
    assert 0 < kept < len(data) and partial.read_bytes() == data[:kept]
    assert partial_downloads(hf_cache) == {corpus.GGUF_REPO: kept}

    seen: list[Progress] = []
    result = client.download_quant(corpus.GGUF_REPO, "Q8_0", on_progress=seen.append)
    assert result.main_path.read_bytes() == data
    assert result.downloaded_bytes == len(data) - kept
    assert fake_hub.seen("cdn")[-1].headers["range"] == f"bytes={kept}-"
    assert seen[0].done == kept and not partials(hf_cache)


def test_cancel_through_an_event_before_any_byte(client: HubClient, fake_hub: FakeHub) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        client.download_quant(corpus.GGUF_REPO, "Q4_K_M", cancel=stop)
    assert not fake_hub.seen("cdn")


def test_a_dropped_connection_is_resumed_within_the_same_call(client: HubClient, fake_hub: FakeHub) -> None:
    fake_hub.drop_after = 3 * CHUNK
    result = client.download_quant(corpus.GGUF_REPO, "Q8_0")  # huggingface_hub retries after ~1 s
    assert result.main_path.read_bytes() == content(fake_hub, Q8)
    assert fake_hub.seen("cdn")[-1].headers.get("range") == f"bytes={3 * CHUNK}-"


def test_a_server_that_ignores_range_still_gives_the_right_file(client: HubClient, fake_hub: FakeHub) -> None:
    token = CancelToken()
    with pytest.raises(CancelledError):
        client.download_quant(corpus.GGUF_REPO, "Q8_0", cancel=token,
                              on_progress=lambda p: token.cancel() if p.done >= 2 * CHUNK else None)
    fake_hub.ignore_range = True
    result = client.download_quant(corpus.GGUF_REPO, "Q8_0")
    assert result.main_path.read_bytes() == content(fake_hub, Q8)


def test_source_download_takes_weights_config_and_tokenizer_only(client: HubClient, fake_hub: FakeHub) -> None:
    result = client.download_source(corpus.ST_REPO)
    names = sorted(p.relative_to(result.snapshot_dir).as_posix() for p in result.paths)
    assert names == ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                     "tokenizer_config.json"]
    assert result.main_path.name == "config.json"
    assert (result.snapshot_dir / "model.safetensors").read_bytes() == content(fake_hub, "model.safetensors",
                                                                              corpus.ST_REPO)


def test_gated_download_says_how_to_get_access(client: HubClient, fake_hub: FakeHub, hf_cache: Path) -> None:
    with pytest.raises(AccessDeniedError) as info:
        client.download_source(corpus.GATED_REPO)
    assert "gated" in info.value.message and "accept the license" in info.value.hint
    approved = HubClient(endpoint=fake_hub.url, token=TOKEN, cache_dir=hf_cache)
    fake_hub.valid_tokens.add(TOKEN)
    with pytest.raises(AccessDeniedError) as waiting:
        approved.download_source(corpus.GATED_REPO)
    assert "approve" in waiting.value.hint
    fake_hub.approved_tokens.add(TOKEN)
    result = approved.download_source(corpus.GATED_REPO)
    assert (result.snapshot_dir / "config.json").exists()
    assert not [r for r in fake_hub.seen("cdn") if "authorization" in r.headers]  # token never sent to the CDN
    assert [r for r in fake_hub.seen("hub", "/resolve/") if r.headers.get("authorization") == f"Bearer {TOKEN}"]


def test_missing_files_and_revisions_are_named(client: HubClient) -> None:
    with pytest.raises(NotFoundError, match="no file called gone.gguf"):
        client.download_files(corpus.GGUF_REPO, [RepoFile("gone.gguf", 10)])
    with pytest.raises(NotFoundError, match="no such branch or revision"):
        client.download_quant(corpus.GGUF_REPO, "Q8_0", revision="v9")
    with pytest.raises(UsageError, match="Nothing to download"):
        client.download_files(corpus.GGUF_REPO, [])


def test_unknown_quant_lists_the_available_ones(client: HubClient) -> None:
    with pytest.raises(UsageError) as info:
        client.download_quant(corpus.GGUF_REPO, "Q3_K_S")
    assert "IQ2_XXS, Q4_K_M, Q6_K, Q8_0" in info.value.hint


def test_not_enough_disk_space_fails_before_any_byte(client: HubClient, fake_hub: FakeHub,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    almost_full = shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)  # type: ignore[attr-defined]
    monkeypatch.setattr(shutil, "disk_usage", lambda path: almost_full)
    with pytest.raises(OutOfDiskError, match="only 1000 bytes is free"):
        client.download_quant(corpus.GGUF_REPO, "Q8_0")
    assert not fake_hub.seen("cdn")


def test_default_cache_is_huggingface_hubs(fake_hub: FakeHub, hf_cache: Path) -> None:
    plain = HubClient(endpoint=fake_hub.url, token=False)  # no cache_dir: HF_HOME's cache (tmp here)
    result = plain.download_quant(corpus.GGUF_REPO, "IQ2_XXS")
    assert hf_cache in result.main_path.parents
    assert os.path.realpath(result.main_path).startswith(str(hf_cache))
