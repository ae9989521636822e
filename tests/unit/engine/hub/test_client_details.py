"""HubClient.details: GGUF variants, parameter counts, dimensions, license and gated flag; Hub errors."""

from __future__ import annotations

import pytest

from engine.errors import AccessDeniedError, NotFoundError, RateLimitedError
from engine.hub.client import HubClient
from engine.hub.models import Source
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.conftest import TOKEN
from tests.unit.engine.hub.fake_hub import FakeHub


def test_gguf_repo_lists_quants_grouped_with_sizes(client: HubClient, fake_hub: FakeHub) -> None:
    d = client.details(corpus.GGUF_REPO)
    sizes = corpus.GGUF_FILES
    assert [(v.name, v.size) for v in d.gguf_variants] == [
        ("IQ2_XXS", sizes["Tiny-Llama-IQ2_XXS.gguf"]), ("Q4_K_M", sizes["Tiny-Llama-Q4_K_M.gguf"]),
        ("Q6_K", sizes["Tiny-Llama-Q6_K/Tiny-Llama-Q6_K-00001-of-00002.gguf"]
         + sizes["Tiny-Llama-Q6_K/Tiny-Llama-Q6_K-00002-of-00002.gguf"]),
        ("Q8_0", sizes["Tiny-Llama-Q8_0.gguf"]),
    ]
    q6 = d.variant("q6_k")
    assert q6 is not None and q6.shard_count == 2 and q6.complete
    assert [f.path for f in d.mmproj_files] == ["mmproj-Tiny-Llama-f16.gguf"]
    assert [f.path for f in d.imatrix_files] == ["Tiny-Llama.imatrix"]
    assert all(f.sha256 for v in d.gguf_variants for f in v.files)  # LFS files carry their sha256
    # No config.json in a GGUF repo: the dimensions come from the catalog entry of its base model.
    assert d.base_model == corpus.GATED_REPO and d.dims is not None and d.dims.n_layer == 16
    assert (d.total_params, d.architecture, d.license, d.gated) == (1235814432, "llama", "llama3.2", False)
    assert "bartowski/Llama-3.2-1B-Instruct-GGUF" in d.gguf_repos  # the catalog's well-known conversions
    assert fake_hub.seen("hub", "/tree/main")[0].query["recursive"][0].lower() == "true"
    assert not fake_hub.seen("cdn")  # no weights were touched


def test_safetensors_repo_reads_config_and_parameter_counts(client: HubClient, hf_cache: object) -> None:
    d = client.details(corpus.ST_REPO)
    assert d.source is Source.HUB and not d.offline
    assert d.params_by_dtype == corpus.TINY_PARAMS and d.total_params == sum(corpus.TINY_PARAMS.values())
    assert d.dims is not None and (d.dims.n_layer, d.dims.n_embd, d.dims.n_head_kv) == (2, 64, 2)
    assert (d.architecture, d.model_type, d.license) == ("LlamaForCausalLM", "llama", "apache-2.0")
    assert [f.path for f in d.safetensors_files] == ["model.safetensors"] and d.safetensors_size > 0
    assert not d.gguf_variants


def test_parameter_counts_fall_back_to_safetensors_headers(client: HubClient, fake_hub: FakeHub) -> None:
    d = client.details(corpus.ST_NOMETA_REPO)
    assert d.params_by_dtype == corpus.TINY_PARAMS
    ranged = [r for r in fake_hub.seen("cdn") if "range" in r.headers]
    assert ranged and all(r.headers["range"].startswith("bytes=") for r in ranged)  # headers only, by range


def test_gated_repo_details_work_without_access(client: HubClient) -> None:
    d = client.details(corpus.GATED_REPO)
    assert d.gated and d.total_params == 1235814400
    assert d.dims is not None and d.dims.n_vocab == 128256  # config.json is gated: the catalog knows the shape


def test_missing_repo_rate_limit_and_bad_token(client: HubClient, fake_hub: FakeHub, hf_cache: object) -> None:
    with pytest.raises(NotFoundError, match="no model called acme/nope"):
        client.details("acme/nope")
    fake_hub.rate_limited.add(corpus.ST_REPO)
    with pytest.raises(RateLimitedError) as info:
        client.details(corpus.ST_REPO)
    assert "Wait a few minutes" in info.value.hint
    stranger = HubClient(endpoint=fake_hub.url, token=TOKEN, cache_dir=hf_cache)  # type: ignore[arg-type]
    with pytest.raises(AccessDeniedError, match="rejected your login token"):
        stranger.details(corpus.GGUF_REPO)
