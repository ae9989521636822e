"""``quantpick search`` and ``quantpick download`` (engine/cli/cmd_search.py, cmd_download.py) end to end."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import pytest

from engine.cli import cmd_download, cmd_search
from engine.errors import UsageError
from engine.hub.client import HubClient
from tests.unit.engine.hub import corpus
from tests.unit.engine.hub.fake_hub import FakeHub


def run(module: object, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="command"))  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(autouse=True)
def endpoint(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> str:
    """Commands build HubClient() with huggingface_hub's endpoint (HF_ENDPOINT); here, the fake Hub's."""
    for module in (cmd_search, cmd_download):
        monkeypatch.setattr(module, "HubClient", functools.partial(HubClient, endpoint=fake_hub.url))
    return fake_hub.url


def test_search_prints_a_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cmd_search, ["search", "tiny-llama", "--gguf"]) == 0
    out = capsys.readouterr().out
    assert corpus.GGUF_REPO in out and "GGUF" in out and corpus.ST_REPO not in out
    assert run(cmd_search, ["search", "model", "--limit", "2", "--json", "--sort", "likes"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["repo_id"] for r in data["results"]] == ["acme/model-a", "other/model-e"] and data["has_more"]


def test_search_offline_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cmd_search, ["search", "mixtral", "--offline", "--min-params", "10B"]) == 0
    captured = capsys.readouterr()
    assert "offline" in captured.err.lower() and "mistralai/Mixtral-8x7B-Instruct-v0.1" in captured.out
    with pytest.raises(SystemExit):
        run(cmd_search, ["search", "x", "--min-params", "lots"])


def test_download_a_quant_and_list_quants(capsys: pytest.CaptureFixture[str], hf_cache: Path) -> None:
    assert run(cmd_download, ["download", corpus.GGUF_REPO, "--list"]) == 0
    listing = capsys.readouterr().out
    assert "Q6_K" in listing and "(2 files)" in listing and "projector: mmproj-Tiny-Llama-f16.gguf" in listing
    assert run(cmd_download, ["download", corpus.GGUF_REPO, "--quant", "q4_k_m", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["path"]).name == "Tiny-Llama-Q4_K_M.gguf" and hf_cache in Path(result["path"]).parents
    with pytest.raises(UsageError, match="no Q3_K_S"):
        run(cmd_download, ["download", corpus.GGUF_REPO, "--quant", "Q3_K_S"])


def test_download_source_files_or_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cmd_download, ["download", corpus.ST_REPO]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.endswith("config.json")
    with pytest.raises(UsageError, match="no safetensors") as info:
        run(cmd_download, ["download", corpus.GGUF_REPO])
    assert "Q4_K_M" in info.value.hint
