"""Quant names from GGUF file names, and grouping of split shards, folders, projectors and imatrix files."""

from __future__ import annotations

import pytest

from engine.hub.models import RepoFile
from engine.hub.quants import group_gguf, quant_of


@pytest.mark.parametrize(("path", "expected"), [
    ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", ("Q4_K_M", "Q4_K_M")),
    ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", ("Q4_K_M", "Q4_K_M")),
    ("tinyllama-1.1b-chat-v1.0.Q8_0.gguf", ("Q8_0", "Q8_0")),
    ("gemma-3-4b-it-IQ2_XXS.gguf", ("IQ2_XXS", "IQ2_XXS")),
    ("Qwen3-8B-BF16.gguf", ("BF16", "BF16")),
    ("Phi-3-mini-4k-instruct-fp16.gguf", ("F16", "F16")),
    ("Meta-Llama-3-8B-Instruct-Q4_0_4_4.gguf", ("Q4_0_4_4", "Q4_0_4_4")),
    ("UD-Q4_K_XL/Qwen3-235B-A22B-UD-Q4_K_XL-00001-of-00003.gguf", ("UD-Q4_K_XL", "Q4_K_XL")),
    ("Q5_K_M/model-00001-of-00002.gguf", ("Q5_K_M", "Q5_K_M")),
    ("gpt-oss-20b-MXFP4.gguf", ("MXFP4", "MXFP4")),
    ("Qwen3-30B-A3B.gguf", None),
])
def test_quant_of(path: str, expected: tuple[str, str] | None) -> None:
    assert quant_of(path) == expected


def _f(path: str, size: int) -> RepoFile:
    return RepoFile(path, size)


def test_split_shards_become_one_variant_with_the_total_size() -> None:
    listing = group_gguf([
        _f("Q8_0/M-Q8_0-00002-of-00003.gguf", 20), _f("Q8_0/M-Q8_0-00001-of-00003.gguf", 30),
        _f("Q8_0/M-Q8_0-00003-of-00003.gguf", 5), _f("M-Q4_K_M.gguf", 40),
    ])
    q4, q8 = listing.variants  # smallest first
    assert (q4.name, q4.size, q4.is_split) == ("Q4_K_M", 40, False)
    assert (q8.name, q8.size, q8.shard_count, q8.complete) == ("Q8_0", 55, 3, True)
    assert [f.path for f in q8.files] == [f"Q8_0/M-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert q8.first_file.path.endswith("00001-of-00003.gguf")


def test_missing_shards_are_flagged() -> None:
    (variant,) = group_gguf([_f("M-Q2_K-00001-of-00003.gguf", 1), _f("M-Q2_K-00003-of-00003.gguf", 1)]).variants
    assert not variant.complete and variant.shard_count == 3


def test_projectors_and_imatrix_files_are_listed_apart() -> None:
    listing = group_gguf([
        _f("mmproj-model-f16.gguf", 1), _f("M-f16.gguf", 9), _f("imatrix_unsloth.gguf", 2), _f("M.imatrix", 3),
        _f("README.md", 1), _f("config.json", 1),
    ])
    assert [v.name for v in listing.variants] == ["F16"]
    assert [f.path for f in listing.mmproj] == ["mmproj-model-f16.gguf"]
    assert [f.path for f in listing.imatrix] == ["M.imatrix", "imatrix_unsloth.gguf"]


def test_same_quant_in_two_files_stays_two_variants_and_bpw_uses_params() -> None:
    listing = group_gguf([_f("a/M-Q4_K_M.gguf", 4_000), _f("b/M-Q4_K_M.gguf", 5_000), _f("weird-name.gguf", 7)])
    names = [(v.name, v.size) for v in listing.variants]
    assert names == [("weird-name", 7), ("Q4_K_M", 4_000), ("Q4_K_M", 5_000)]
    assert listing.variants[1].bits_per_weight(8_000) == 4.0
    assert listing.variants[1].bits_per_weight(None) is None
