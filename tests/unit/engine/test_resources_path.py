"""The resources folder is found from a checkout, frozen (sys._MEIPASS) and installed (sys.prefix/share)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine import resources_path
from engine.resources_path import SOURCE_DIR, candidate_dirs, resource_path, resources_dir


@pytest.fixture(autouse=True)
def _fresh_cache():
    resources_dir.cache_clear()
    yield
    resources_dir.cache_clear()


def test_checkout_finds_its_own_files() -> None:
    assert resources_dir() == SOURCE_DIR
    assert resource_path("catalog.json").is_file()
    assert resource_path("bpe_pre_tokenizers.json").is_file()
    assert resource_path("icons", "quantpick.svg").is_file()


def test_frozen_bundle_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "resources").mkdir()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert candidate_dirs()[0] == tmp_path / "resources"
    assert resource_path("catalog.json") == tmp_path / "resources" / "catalog.json"


def test_wheel_install_reads_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    share = tmp_path.joinpath("share", "quantpick", "resources")
    share.mkdir(parents=True)
    monkeypatch.setattr(resources_path, "SOURCE_DIR", tmp_path / "no-checkout")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert resources_dir() == share


def test_nothing_found_names_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "no-checkout"
    monkeypatch.setattr(resources_path, "SOURCE_DIR", missing)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert resources_dir() == missing
