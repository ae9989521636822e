"""File names from a split index, a split GGUF or a Hub listing can never leave their folder.

Each hostile name is tried with a real file waiting at the place it would escape to, so an escape would
succeed if the code allowed it: the outcome must be a QuantpickError, or files read and written only
inside the folder.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.convert.split_out import split_path
from engine.errors import QuantpickError
from engine.formats.gguf_split import split_part_paths
from engine.formats.safetensors_index import read_safetensors_index
from engine.hub.client import HubClient
from engine.hub.models import GGUFVariant, RepoFile
from tests.unit.engine.hub.conftest import fake_hub, hf_cache, loopback_only  # noqa: F401 - fixtures
from tests.unit.engine.hub.fake_hub import FakeHub, FakeRepo, blob

ESCAPES = [
    "../outside.safetensors", "../../outside.safetensors", "/tmp/outside.safetensors", "sub/../../outside.safetensors",
    "..\\outside.safetensors", "C:\\outside.safetensors", "C:outside.safetensors", "\\\\server\\share\\x.safetensors",
    "./../outside.safetensors", "sub/./../../outside.safetensors", "~/outside.safetensors", "//outside.safetensors",
    "outside.safetensors\0.json", "..", ".", "", "sub/", "%2e%2e/outside.safetensors",
]
# Characters that make paths interesting; hypothesis combines them into names.
PATHY = st.lists(st.sampled_from(list("./\\:~%0aé\0 ") + ["..", "sub", "outside", ".safetensors"]),
                 max_size=12).map("".join)


def shard(path: Path, name: str = "w") -> None:
    """A valid one-tensor safetensors file."""
    header = json.dumps({name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))


def index_folder(root: Path, target: str) -> Path:
    """root/model/ with an index mapping tensor ``w`` to ``target``; bait files wait outside."""
    folder = root / "model"
    folder.mkdir(parents=True, exist_ok=True)
    for bait in (root / "outside.safetensors", root.parent / "outside.safetensors"):
        shard(bait)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": target}}))
    return folder / "model.safetensors.index.json"


def stays_inside(index: Path) -> None:
    try:
        model = read_safetensors_index(index)
    except QuantpickError:
        return
    for f in model.files:
        real = Path(os.path.realpath(f.path))
        assert real.is_relative_to(os.path.realpath(index.parent)), f"read {real} outside {index.parent}"


@pytest.mark.parametrize("target", ESCAPES)
def test_index_names_cannot_escape(tmp_path: Path, target: str) -> None:
    stays_inside(index_folder(tmp_path / "root", target))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=PATHY)
def test_index_names_cannot_escape_fuzzed(tmp_path: Path, target: str) -> None:
    stays_inside(index_folder(tmp_path / "root", target))


def test_a_plain_name_inside_still_works(tmp_path: Path) -> None:
    index = index_folder(tmp_path / "root", "sub/model-00001-of-00001.safetensors")
    shard(index.parent / "sub" / "model-00001-of-00001.safetensors")
    assert [f.path.name for f in read_safetensors_index(index).files] == ["model-00001-of-00001.safetensors"]


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s and "\0" not in s),
       count=st.integers(1, 99), number=st.integers(1, 99))
def test_gguf_split_parts_stay_beside_the_first(prefix: str, count: int, number: int) -> None:
    """Part names are derived from the given file's own name, never from the file's contents."""
    folder = Path("/models/here")
    path = folder / f"{prefix}-{number:05d}-of-{count:05d}.gguf"
    try:
        parts = split_part_paths(path)
    except QuantpickError:
        return
    assert parts is None or all(p.parent == folder and "/" not in p.name for p in parts)  # None: not a split
    assert all(split_path(folder / f"{prefix}.gguf", i, count).parent == folder for i in range(count))


HUB_NAMES = ["../../../escape-Q4_K_M.gguf", "sub/../../escape-Q8_0.gguf", "/tmp/escape-Q5_K_M.gguf",
             "..\\escape-Q6_K.gguf", "ok/../../../escape-Q3_K_M.gguf", "C:/escape-Q2_K.gguf"]


def test_hub_listing_names_cannot_escape(fake_hub: FakeHub, hf_cache: Path, tmp_path: Path) -> None:
    """A repo listing hostile names: each download is refused before a byte is written anywhere."""
    fake_hub.add(FakeRepo("evil/repo", {name: blob(name, 4096) for name in HUB_NAMES}))
    client = HubClient(endpoint=fake_hub.url, token=False, cache_dir=hf_cache)
    before = sorted(tmp_path.parent.rglob("*escape*"))
    variants = client.details("evil/repo").gguf_variants
    assert len(variants) == len(HUB_NAMES)
    for variant in variants:
        with pytest.raises(QuantpickError, match="outside the download folder"):
            client.download_quant("evil/repo", variant)
    forged = GGUFVariant("Q4_0", "Q4_0", (RepoFile("../../forged-Q4_0.gguf", 10),), 10)
    with pytest.raises(QuantpickError, match="outside the download folder"):
        client.download_quant("evil/repo", forged)
    assert sorted(tmp_path.parent.rglob("*escape*")) == before
    assert not [r for r in fake_hub.seen(path_part="/resolve/")]
