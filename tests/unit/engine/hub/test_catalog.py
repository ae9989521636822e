"""resources/catalog.json: coverage of the families people run, internal consistency, strict loading."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from engine.errors import CorruptInputError
from engine.hub.catalog import CATALOG_PATH, load_catalog, parse_catalog
from engine.hub.models import SearchQuery, Source

CATALOG = load_catalog()
RAW: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

MUST_HAVE = [
    "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct", "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen3-0.6B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mistral-Nemo-Instruct-2407", "mistralai/Mistral-Small-24B-Instruct-2501",
    "mistralai/Mixtral-8x7B-Instruct-v0.1", "google/gemma-2-9b-it", "google/gemma-3-27b-it",
    "microsoft/Phi-3.5-mini-instruct", "microsoft/phi-4", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
]


def test_at_least_forty_models_including_the_popular_families() -> None:
    assert len(CATALOG.entries) >= 40
    ids = {e.repo_id for e in CATALOG.entries}
    assert not [r for r in MUST_HAVE if r not in ids]


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.repo_id)
def test_parameter_count_recomputed_from_dimensions_is_within_two_percent(entry: Any) -> None:
    estimate = entry.dims.estimate_params() + entry.vision_params
    assert abs(estimate / entry.params - 1) < 0.02, (estimate, entry.params)


@pytest.mark.parametrize("entry", [e for e in CATALOG.entries if e.dims.n_expert], ids=lambda e: e.repo_id)
def test_moe_active_parameters_agree_with_the_routing_dimensions(entry: Any) -> None:
    # 20%: vendors disagree on whether embeddings count as "active" (gpt-oss leaves them out).
    assert entry.active_params < entry.params
    assert abs(entry.dims.estimate_active_params() / entry.active_params - 1) < 0.20


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.repo_id)
def test_dimensions_are_plausible(entry: Any) -> None:
    d = entry.dims
    assert d.head_dim in (64, 80, 96, 128, 256)
    assert 0.5 <= d.n_head * d.head_dim / d.n_embd <= 2.5
    assert d.n_ctx_train >= 2048 and d.n_vocab >= 32000
    assert entry.license and entry.gguf_repos
    if d.n_swa:
        assert entry.gguf_arch in {"gemma2", "gemma3", "gpt-oss"}  # the archs llama.cpp runs with SWA


def test_lookup_by_source_or_gguf_repo_and_search() -> None:
    assert CATALOG.get("BARTOWSKI/gemma-2-9b-it-GGUF").repo_id == "google/gemma-2-9b-it"  # type: ignore[union-attr]
    assert CATALOG.get("nobody/nothing") is None
    hits = [e.repo_id for e in CATALOG.search(SearchQuery(text="qwen3 30b"))]
    assert hits and all("Qwen3" in h and "30B" in h for h in hits)
    small = CATALOG.search(SearchQuery(author="meta-llama", max_params=4e9))
    assert {e.repo_id for e in small} == {"meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct"}
    summary = CATALOG.entries[0].to_summary()
    assert summary.source is Source.CATALOG and summary.params == CATALOG.entries[0].params


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(RAW)
    change(data["models"])
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m[0].pop("license"), "missing 'license'"),
    (lambda m: m[0].update(color="blue"), "unknown field 'color'"),
    (lambda m: m[0].update(params="8B"), "'params' should be int"),
    (lambda m: m[0].update(repo_id="no-slash"), "is not a repo id"),
    (lambda m: m.append(copy.deepcopy(m[0])), "listed twice"),
    (lambda m: m[0]["dims"].update(n_head_kv=7), "not a multiple"),
    (lambda m: m[0]["dims"].update(n_expert=8, n_expert_used=2, n_ff_exp=64), "active_params"),
    (lambda m: m[0]["dims"].update(n_swa=4096), "set together"),
    (lambda m: m[0]["dims"].update(n_layers=3), "bad dims"),
])
def test_damaged_catalogs_are_refused_with_the_reason(change: Any, message: str) -> None:
    with pytest.raises(CorruptInputError, match=message):
        parse_catalog(_broken(change))


def test_wrong_version_and_unreadable_files(tmp_path: Any) -> None:
    with pytest.raises(CorruptInputError, match="version"):
        parse_catalog({**RAW, "schema_version": 2})
    bad = tmp_path / "catalog.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptInputError, match="cannot be read"):
        load_catalog(bad)
    with pytest.raises(CorruptInputError, match="missing"):
        load_catalog(tmp_path / "absent.json")
