"""Local cache scan: models on disk with sizes, usable as conversion sources, damaged entries skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.hub.cache import find_cached, partial_downloads, read_cached_config, scan_cache
from engine.hub.client import HubClient
from tests.unit.engine.hub import corpus

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def write_repo(cache: Path, repo_id: str, files: dict[str, bytes], commit: str = COMMIT) -> Path:
    """Lay out a repo the way huggingface_hub does: blobs, snapshot symlinks, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for i, (path, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"blob{i}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_no_cache_yet(tmp_path: Path) -> None:
    assert scan_cache(tmp_path / "absent") == [] and partial_downloads(tmp_path / "absent") == {}


def test_models_from_other_tools_are_found_with_sizes(hf_cache: Path) -> None:
    snapshot = write_repo(hf_cache, "someone/Model-7B", {
        "config.json": json.dumps({"model_type": "llama"}).encode(), "model-00001-of-00002.safetensors": b"a" * 300,
        "model-00002-of-00002.safetensors": b"b" * 200, "tokenizer.json": b"{}"})
    write_repo(hf_cache, "someone/Model-7B-GGUF", {"Q4_K_M/Model-7B-Q4_K_M.gguf": b"g" * 400, "README.md": b"r"})
    found = {m.repo_id: m for m in scan_cache(hf_cache)}
    src, gguf = found["someone/Model-7B"], found["someone/Model-7B-GGUF"]
    assert src.convertible and not src.gguf_variants and src.snapshot == snapshot
    assert src.size_on_disk == 300 + 200 + len(b'{"model_type": "llama"}') + 2
    assert (src.revision, src.refs) == (COMMIT, ("main",))
    assert not gguf.convertible and [v.name for v in gguf.gguf_variants] == ["Q4_K_M"]
    assert [f.path for f in gguf.files] == ["Q4_K_M/Model-7B-Q4_K_M.gguf", "README.md"]
    assert read_cached_config(src) == {"model_type": "llama"} and read_cached_config(gguf) is None
    assert find_cached("SOMEONE/model-7b", hf_cache) == src


def test_damaged_entries_are_skipped(hf_cache: Path) -> None:
    write_repo(hf_cache, "good/one", {"config.json": b"{}"})
    broken = hf_cache / "models--bad--one"
    (broken / "refs").mkdir(parents=True)
    (broken / "refs" / "main").write_text("f" * 40)  # points at a snapshot that is not there
    (hf_cache / "datasets--some--data" / "snapshots").mkdir(parents=True)
    assert [m.repo_id for m in scan_cache(hf_cache)] == ["good/one"]


def test_downloads_show_up_in_the_scan(client: HubClient, hf_cache: Path) -> None:
    client.download_quant(corpus.GGUF_REPO, "Q4_K_M")
    client.download_source(corpus.ST_REPO)
    found = {m.repo_id: m for m in client.cached_models()}
    assert found[corpus.ST_REPO].convertible
    gguf = found[corpus.GGUF_REPO]
    assert [v.name for v in gguf.gguf_variants] == ["Q4_K_M"]
    assert gguf.size_on_disk == corpus.GGUF_FILES["Tiny-Llama-Q4_K_M.gguf"] and gguf.incomplete_bytes == 0
