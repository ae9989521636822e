"""GGUF tensors generated from a config: same as a real conversion, and published parameter counts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.errors import UnsupportedArchitectureError
from engine.recommend.source import from_catalog, from_folder, from_gguf
from engine.recommend.tensor_shapes import gguf_tensors
from tests.conftest import GOLDEN
from tests.unit.engine.recommend.helpers import tiny


@pytest.mark.parametrize("name", ["bpe", "spm"])
def test_config_gives_the_tensors_convert_hf_to_gguf_wrote(name: str) -> None:
    generated = from_folder(GOLDEN / "convert" / f"hf-tiny-llama-{name}")
    converted = from_gguf(GOLDEN / "convert" / f"tiny-llama-{name}-BF16.gguf")
    assert {(t.name, t.shape, t.source) for t in generated.tensors} == {
        (t.name, t.shape, t.source) for t in converted.tensors}


@pytest.mark.parametrize(
    ("repo_id", "params"),
    [
        ("meta-llama/Llama-3.2-1B-Instruct", 1_235_814_400),  # tied embeddings
        ("meta-llama/Llama-3.1-8B-Instruct", 8_030_261_248),
        ("Qwen/Qwen2.5-0.5B-Instruct", 494_032_768),  # q/k/v biases, tied
        ("Qwen/Qwen3-30B-A3B", 30_532_122_624),  # 128 experts
        ("google/gemma-2-2b-it", 2_614_341_888),
    ],
)
def test_parameter_counts_match_the_published_ones(repo_id: str, params: int) -> None:
    assert from_catalog(repo_id).n_params == params


def test_unsupported_architecture() -> None:
    with pytest.raises(UnsupportedArchitectureError):
        gguf_tensors(replace(tiny(), arch="mamba"))
    with pytest.raises(UnsupportedArchitectureError):
        gguf_tensors(replace(tiny(n_expert=4), arch="qwen2"))  # MoE only where the table knows it
