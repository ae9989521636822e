"""Eligibility, categories, tensor order, fallbacks and model facts (quant-spec 5.2-5.6)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import CorruptInputError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant.rules import (
    Category, ModelFacts, TensorSpec, category_of, fallback_type, is_quantizable, layer_of, n_dims,
    tensor_order_key, use_more_bits,
)
from tests.conftest import GOLDEN

T = GGMLType


@pytest.mark.parametrize(("name", "category"), [
    ("output.weight", Category.OUTPUT),
    ("token_embd.weight", Category.TOKEN_EMBD),
    ("per_layer_token_embd.weight", Category.TOKEN_EMBD),
    ("blk.0.attn_qkv.weight", Category.ATTN_QKV),
    ("blk.0.attn_kv_b.weight", Category.ATTN_KV_B),
    ("blk.0.attn_v.weight", Category.ATTN_V),
    ("blk.0.attn_k.weight", Category.ATTN_K),
    ("blk.0.attn_q.weight", Category.ATTN_Q),
    ("blk.0.attn_output.weight", Category.ATTN_OUTPUT),
    ("blk.3.ffn_up_exps.weight", Category.FFN_UP),
    ("blk.3.ffn_gate_inp.weight", Category.FFN_GATE),
    ("blk.3.ffn_down_shexp.weight", Category.FFN_DOWN),
    ("blk.0.attn_v.bias", Category.OTHER),
    ("output_norm.weight", Category.OTHER),
    ("enc.output.weight", Category.OTHER),
])
def test_category_of(name: str, category: Category) -> None:
    assert category_of(name) is category


def test_v_like() -> None:
    assert {c for c in Category if c.is_v_like} == {Category.ATTN_V, Category.ATTN_QKV, Category.ATTN_KV_B}


@pytest.mark.parametrize(("name", "shape", "expected"), [
    ("blk.0.attn_q.weight", (256, 256), True),
    ("blk.0.ffn_down_exps.weight", (512, 256, 8), True),
    ("token_embd.weight", (256, 512), True),
    ("blk.0.attn_norm.weight", (256,), False),
    ("blk.0.attn_q.weight", (256, 1), False),          # trailing 1 dropped: one dimension
    ("blk.0.attn_q.bias", (256, 4), False),
    ("blk.0.q_norm.weight", (64, 4), False),
    ("blk.0.ffn_gate_inp.weight", (256, 8), False),
    ("position_embd.weight", (256, 512), False),
    ("token_types.weight", (256, 2), False),
    ("blk.0.ssm_conv1d.weight", (4, 512), False),
    ("blk.0.time_mix_w1.weight", (256, 64), False),
    ("v.blk.0.rel_pos.weight", (64, 64), False),
    ("rope_freqs.weight", (32,), False),
])
def test_is_quantizable(name: str, shape: tuple[int, ...], expected: bool) -> None:
    assert is_quantizable(name, shape) is expected


def test_leave_output_tensor() -> None:
    assert is_quantizable("output.weight", (256, 512))
    assert not is_quantizable("output.weight", (256, 512), leave_output=True)
    assert is_quantizable("token_embd.weight", (256, 512), leave_output=True)


def test_n_dims_trims_trailing_ones() -> None:
    assert [n_dims(s) for s in [(5,), (5, 1), (5, 1, 1), (1, 1), (5, 3, 1), (1, 5)]] == [1, 1, 1, 1, 2, 2]


def test_order_is_layer_then_bytes() -> None:
    names = ["blk.10.attn_q.weight", "blk.2.ffn_up.weight", "token_embd.weight", "blk.2.attn_k.weight",
             "output.weight", "Output.weight", "output_norm.weight", "rope_freqs.weight", "blk.0.x"]
    assert sorted(names, key=tensor_order_key) == [
        "Output.weight", "output.weight", "output_norm.weight", "rope_freqs.weight", "token_embd.weight",
        "blk.0.x", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight",
    ]
    assert layer_of("blk.7.attn_q.weight") == 7 and layer_of("output.weight") is None
    assert layer_of("v.blk.7.attn_q.weight") is None


# quant-spec 5.5, written out there layer by layer.
@pytest.mark.parametrize(("n", "layers"), [
    (16, {0, 1, 4, 7, 10, 13, 14, 15}),
    (28, {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27}),
    (32, {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}),
    (36, {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31, 32, 33, 34, 35}),
])
def test_use_more_bits(n: int, layers: set[int]) -> None:
    assert {i for i in range(n) if use_more_bits(i, n)} == layers


@pytest.mark.parametrize(("qtype", "row", "expected"), [
    (T.Q4_K, 4096, T.Q4_K),
    (T.Q6_K, 13696, T.Q8_0),      # the spec's example: fits 32, not 256
    (T.Q4_K, 336, T.F16),         # neither 256 nor 32 divides 336
    (T.Q4_K, 320, T.Q5_0),
    (T.Q5_K, 320, T.Q5_1),
    (T.Q2_K, 320, T.Q4_0),
    (T.Q3_K, 320, T.Q4_0),
    (T.IQ4_XS, 320, T.IQ4_NL),
    (T.Q8_0, 320, T.Q8_0),
    (T.F16, 7, T.F16),
    (T.Q8_0, 16, T.F16),          # a 32-block type that does not fit: F16, as llama-quantize (0c1e570) does
    (T.Q4_0, 48, T.F16),
    (T.IQ4_NL, 16, T.F16),
])
def test_fallback_type(qtype: GGMLType, row: int, expected: GGMLType) -> None:
    assert fallback_type(qtype, row) is expected


def _golden_metadata(model: str) -> dict[str, object]:
    data = json.loads((GOLDEN / "mixes" / "type-mixes.json").read_text())["models"][model]
    return {"general.architecture": data["architecture"], **data["hparams"]}


def test_facts_from_gguf_metadata() -> None:
    facts = ModelFacts.from_gguf_metadata(_golden_metadata("synth-c"))
    assert facts == ModelFacts("llama", 32, 4, 1, 0)
    assert facts.n_gqa == 4 and not facts.is_70b


def test_facts_per_layer_arrays_and_defaults() -> None:
    meta = {"general.architecture": "deci", "deci.block_count": np.uint32(80),
            "deci.attention.head_count": [64, 64], "deci.attention.head_count_kv": np.array([8, 0])}
    assert ModelFacts.from_gguf_metadata(meta) == ModelFacts("deci", 80, 64, 8, 0)
    no_kv = ModelFacts.from_gguf_metadata({"general.architecture": "gpt2", "gpt2.block_count": 12,
                                           "gpt2.attention.head_count": 12})
    assert no_kv.n_head_kv == 12 and no_kv.n_gqa == 1
    assert ModelFacts("x", 1, 4, 0).n_gqa == 0


@pytest.mark.parametrize("meta", [{}, {"general.architecture": "llama"}, {"general.architecture": ""}])
def test_facts_missing_keys(meta: dict[str, object]) -> None:
    with pytest.raises(CorruptInputError):
        ModelFacts.from_gguf_metadata(meta)


@pytest.mark.parametrize(("facts", "expected"), [
    (ModelFacts("llama", 80, 64, 8), True),
    (ModelFacts("llama", 80, 64, 64), False),      # LLaMA-1 65B: no GQA
    (ModelFacts("llama", 80, 64, 8, 8), False),    # eight experts: a Mixtral, not a 70B
    (ModelFacts("llama", 32, 32, 8), False),
    (ModelFacts("qwen2", 80, 64, 8), True),
    (ModelFacts("qwen3", 80, 64, 8), False),
])
def test_is_70b(facts: ModelFacts, expected: bool) -> None:
    assert facts.is_70b is expected


def test_facts_from_hf_config() -> None:
    cfg = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 8}
    assert ModelFacts.from_hf_config(cfg, arch="llama") == ModelFacts("llama", 32, 32, 8, 8)
    nested = {"text_config": {"num_hidden_layers": 4, "num_attention_heads": 8}}
    assert ModelFacts.from_hf_config(nested, arch="gemma3") == ModelFacts("gemma3", 4, 8, 8, 0)
    with pytest.raises(CorruptInputError):
        ModelFacts.from_hf_config({}, arch="llama")


def test_tensor_spec_of() -> None:
    assert TensorSpec.of(("a.weight", [4, 2], "bf16")) == TensorSpec("a.weight", (4, 2), T.BF16)
    assert TensorSpec.of(("a.weight", (4,), T.F32)).source is T.F32
    with pytest.raises(UsageError, match="unknown type"):
        TensorSpec.of(("a.weight", (4,), "F24"))
