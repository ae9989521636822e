"""The per-tensor type choice against llama-quantize's own choices, plus the rules the goldens miss."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant.ftypes import FILE_TYPES, parse_file_type
from engine.quant.mix_rules import TypeDecision, decide_types
from engine.quant.rules import ModelFacts, TensorSpec
from tests.conftest import GOLDEN

T = GGMLType


@cache
def _mixes() -> dict[str, Any]:
    return json.loads((GOLDEN / "mixes" / "type-mixes.json").read_text())


def _model(name: str) -> tuple[list[TensorSpec], ModelFacts]:
    model = _mixes()["models"][name]
    specs = [TensorSpec(n, tuple(s), T.F32) for n, s in model["tensor_shapes_ne"].items()]
    facts = ModelFacts.from_gguf_metadata({"general.architecture": model["architecture"], **model["hparams"]})
    return specs, facts


def _types(specs: list[TensorSpec], decisions: tuple[TypeDecision, ...]) -> dict[str, str]:
    return {s.name: d.target.name for s, d in zip(specs, decisions)}


GOLDEN_CASES = [(m, ft) for m in ("synth-a", "synth-b", "synth-c") for ft in sorted(_mixes()["types"][m])]


def test_golden_covers_every_file_type() -> None:
    assert len(GOLDEN_CASES) == 54
    assert {ft for _, ft in GOLDEN_CASES} == {ft.name for ft in FILE_TYPES} - {"F32"}


@pytest.mark.parametrize(("model", "ftype"), GOLDEN_CASES)
def test_matches_llama_quantize(model: str, ftype: str) -> None:
    specs, facts = _model(model)
    got = _types(specs, decide_types(specs, parse_file_type(ftype), facts))
    assert got == _mixes()["types"][model][ftype]


def _llama(n_layer: int, *, n_embd: int = 256, tied: bool = False, experts: int = 0) -> list[TensorSpec]:
    specs = [TensorSpec("token_embd.weight", (n_embd, 320), T.F32), TensorSpec("output_norm.weight", (n_embd,), T.F32)]
    if not tied:
        specs.append(TensorSpec("output.weight", (n_embd, 320), T.F32))
    for i in range(n_layer):
        for part, shape in (("attn_q", (n_embd, n_embd)), ("attn_k", (n_embd, 64)), ("attn_v", (n_embd, 64)),
                            ("attn_output", (n_embd, n_embd)), ("attn_norm", (n_embd,)), ("ffn_norm", (n_embd,))):
            specs.append(TensorSpec(f"blk.{i}.{part}.weight", shape, T.F32))
        if experts:
            specs.append(TensorSpec(f"blk.{i}.ffn_gate_inp.weight", (n_embd, experts), T.F32))
        for part, shape in (("ffn_gate", (n_embd, 512)), ("ffn_up", (n_embd, 512)), ("ffn_down", (512, n_embd))):
            name = f"blk.{i}.{part}_exps.weight" if experts else f"blk.{i}.{part}.weight"
            specs.append(TensorSpec(name, (*shape, experts) if experts else shape, T.F32))
    return specs


def _decide(specs: list[TensorSpec], ftype: str, facts: ModelFacts, **kw: Any) -> dict[str, str]:
    return _types(specs, decide_types(specs, parse_file_type(ftype), facts, **kw))


def _layers(types: dict[str, str], part: str, qtype: str) -> set[int]:
    return {int(n.split(".")[1]) for n, t in types.items() if n.startswith("blk.") and part in n and t == qtype}


def test_spec_spot_check_8_layers_q4_k_m() -> None:
    specs = _llama(8)
    types = _decide(specs, "Q4_K_M", ModelFacts("llama", 8, 4, 1))
    assert _layers(types, "attn_v", "Q6_K") == _layers(types, "ffn_down", "Q6_K") == {0, 3, 6, 7}
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"
    assert types["blk.5.attn_norm.weight"] == "F32" and types["blk.5.ffn_gate.weight"] == "Q4_K"


def test_tied_embeddings_take_the_output_rule() -> None:
    facts = ModelFacts("llama", 4, 4, 1)
    assert _decide(_llama(4, tied=True), "Q4_K_M", facts)["token_embd.weight"] == "Q6_K"
    assert _decide(_llama(4, tied=True), "Q8_0", facts)["token_embd.weight"] == "Q8_0"
    assert _decide(_llama(4, n_embd=320, tied=True), "Q4_K_M", facts)["token_embd.weight"] == "Q8_0"
    assert _decide(_llama(4, tied=False), "Q4_K_M", facts)["token_embd.weight"] == "Q4_K"


def test_falcon_output_and_ffn_down() -> None:
    types = _decide(_llama(16), "Q4_K_M", ModelFacts("falcon", 16, 4, 1))
    assert types["output.weight"] == "Q8_0"
    assert _layers(types, "ffn_down", "Q6_K") == {0}
    assert _layers(types, "ffn_down", "Q5_K") == {1, 4, 7, 10, 13, 14, 15}
    assert _decide(_llama(4), "Q3_K_L", ModelFacts("falcon", 4, 4, 1))["blk.0.attn_output.weight"] == "Q4_K"


def test_pure_gives_every_eligible_tensor_the_base_type() -> None:
    specs, facts = _model("synth-a")
    types = _decide(specs, "Q4_K_M", facts, pure=True)
    assert {t for n, t in types.items() if "norm" not in n} == {"Q4_K"}
    assert {t for n, t in types.items() if "norm" in n} == {"F32"}
    specs, facts = _model("synth-b")     # rows of 320: the fallback still applies
    assert {t for n, t in _decide(specs, "Q6_K", facts, pure=True).items() if "norm" not in n} == {"Q8_0"}


def test_decisions_report_eligibility_and_fallback() -> None:
    specs, facts = _model("synth-b")
    by_name = dict(zip((s.name for s in specs), decide_types(specs, parse_file_type("Q4_K_M"), facts)))
    assert by_name["blk.0.attn_norm.weight"] == TypeDecision(T.F32, eligible=False)
    assert by_name["blk.0.attn_q.weight"] == TypeDecision(T.Q5_0, eligible=True, fell_back=True)
    assert by_name["output.weight"] == TypeDecision(T.Q8_0, eligible=True, fell_back=False)


def test_eight_experts() -> None:
    specs = _llama(8, experts=8)
    types = _decide(specs, "Q4_K_M", ModelFacts("llama", 8, 4, 1, 8))
    assert {types[f"blk.{i}.attn_v.weight"] for i in range(8)} == {"Q8_0"}
    assert {types[f"blk.{i}.attn_k.weight"] for i in range(8)} == {"Q8_0"}
    assert {types[f"blk.{i}.attn_output.weight"] for i in range(8)} == {"Q5_K"}
    assert _layers(types, "ffn_down_exps", "Q6_K") == {0, 3, 6, 7}
    assert {types[f"blk.{i}.ffn_gate_inp.weight"] for i in range(8)} == {"F32"}


def test_moe_layer_comes_from_the_name() -> None:
    specs = [*_llama(2, experts=4), TensorSpec("ffn_down_exps.weight", (512, 256, 4), T.F32)]
    with pytest.raises(UsageError, match="which layer"):
        decide_types(specs, parse_file_type("Q4_K_M"), ModelFacts("llama", 2, 4, 1, 4))


def test_70b_attn_v_gets_q5_k() -> None:
    specs = _llama(80)
    v_types = {_decide(specs, "Q3_K_M", ModelFacts(a, 80, 64, kv))["blk.40.attn_v.weight"]
               for a, kv in (("llama", 8), ("qwen2", 8))}
    assert v_types == {"Q5_K"}
    assert _decide(specs, "Q3_K_M", ModelFacts("llama", 80, 64, 64))["blk.40.attn_v.weight"] == "Q4_K"


def test_imatrix_changes_ffn_down_rows() -> None:
    specs, facts = _llama(16), ModelFacts("llama", 16, 4, 1)
    assert _layers(_decide(specs, "Q4_0", facts, has_imatrix=True), "ffn_down", "Q4_1") == {0, 1}
    assert _layers(_decide(specs, "Q5_0", facts, has_imatrix=True), "ffn_down", "Q5_1") == {0, 1}
    assert _layers(_decide(specs, "Q4_0", facts), "ffn_down", "Q4_1") == set()
    assert _layers(_decide(specs, "IQ4_XS", facts), "ffn_down", "Q5_K") == {0, 1}
    assert _layers(_decide(specs, "IQ4_XS", facts, has_imatrix=True), "ffn_down", "Q5_K") == set()


def test_fused_qkv_follows_attn_v_rules() -> None:
    specs = [TensorSpec("output.weight", (256, 320), T.F32)]
    specs += [TensorSpec(f"blk.{i}.attn_qkv.weight", (256, 384), T.F32) for i in range(8)]
    types = _decide(specs, "Q4_K_M", ModelFacts("phi3", 8, 4, 4))
    assert _layers(types, "attn_qkv", "Q6_K") == {0, 3, 6, 7}


def test_leave_output_and_unquantized_file_types() -> None:
    specs = [TensorSpec("output.weight", (256, 320), T.F16), TensorSpec("blk.0.attn_norm.weight", (256,), T.F16),
             TensorSpec("blk.0.attn_q.weight", (256, 256), T.F16)]
    facts = ModelFacts("llama", 1, 4, 4)
    assert _decide(specs, "Q4_K_M", facts, leave_output=True)["output.weight"] == "F16"
    assert _decide(specs, "F32", facts) == {
        "output.weight": "F32", "blk.0.attn_norm.weight": "F16", "blk.0.attn_q.weight": "F32"}
    assert _decide(specs, "BF16", facts)["output.weight"] == "BF16"


def test_q4_k_s_counts_v_tensors_in_file_order() -> None:
    specs = list(reversed(_llama(10)))    # input order must not matter
    types = _decide(specs, "Q4_K_S", ModelFacts("llama", 10, 4, 4))
    assert _layers(types, "attn_v", "Q5_K") == {0, 1, 2, 3}
    assert _layers(types, "ffn_down", "Q5_K") == {0}
