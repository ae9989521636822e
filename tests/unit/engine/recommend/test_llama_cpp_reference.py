"""Our memory model against llama.cpp's own dry run (81 recorded CPU runs, exact bytes).

data/llama_cpp_cpu_dry_runs.json holds, for two real GGUFs from PyPI (SmolLM2-135M Q4_1, Gemma 3 270M Q4_K_M)
and seven synthetic headers shaped like llama-8B, qwen2, qwen3, gemma2, gemma3-4B, phi3 and qwen3moe, the
model header and what llama.cpp's dry run (llama-fit-params -fitp on, in bytes) reported for a grid of
context sizes, KV types, flash attention on/off, sequences and batch sizes. See data/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.formats.ggml_types import GGMLType
from engine.quant.rules import TensorSpec
from engine.recommend import ContextParams, estimate, weight_plan
from engine.recommend.model import ModelDescription, from_gguf_metadata
from engine.recommend.placement import cpu_only

DATA = Path(__file__).parent / "data" / "llama_cpp_cpu_dry_runs.json"
REFERENCE = json.loads(DATA.read_text())
AVX512_FEATURES = ("avx", "avx2", "avx512f", "fma", "f16c")  # the CPU the reference was recorded on


def _desc(name: str) -> ModelDescription:
    model = REFERENCE["models"][name]
    tensors = [TensorSpec(n, tuple(shape), GGMLType[t]) for n, shape, t in model["tensors"]]
    return from_gguf_metadata(model["metadata"], tensors, name=name)


def _params(run: dict[str, Any]) -> ContextParams:
    a = run["args"].split()
    opt = dict(zip(a[::2], a[1::2]))
    kwargs: dict[str, Any] = dict(
        n_ctx=int(opt["-c"]), flash_attn=opt["-fa"] == "on", type_k=GGMLType[opt["-ctk"].upper()],
        type_v=GGMLType[opt["-ctv"].upper()], n_ubatch=int(opt["-ub"]),
    )
    if run["llama_server_slots"]:  # unified KV pool and one logits row per slot, as llama-server runs
        return ContextParams.llama_server(**kwargs)
    return ContextParams(n_seq=int(opt["-np"]), **kwargs)


def _ids(run: dict[str, Any]) -> str:
    return f"{run['model']} {run['args']}{' server' if run['llama_server_slots'] else ''}"


@pytest.mark.parametrize("run", REFERENCE["runs"], ids=_ids)
def test_host_memory_matches_llama_cpp_to_the_byte(run: dict[str, Any]) -> None:
    desc = _desc(run["model"])
    est = estimate(desc, weight_plan(desc), _params(run), [], cpu_only(), cpu_features=AVX512_FEATURES)
    want = run["llama_cpp_host"]
    # llama.cpp's "Host" row leaves out the CPU_REPACK buffer, which it lists on a line of its own.
    assert est.host.model - est.host.repacked == want["model"]
    assert est.host.context == want["context"]
    assert est.host.compute == want["compute"]


def test_reference_covers_the_issue_minimum() -> None:
    models = {r["model"] for r in REFERENCE["runs"]}
    assert len(REFERENCE["runs"]) >= 12 and len(models) >= 3
    assert {"SmolLM2-135M-Instruct.Q4_1", "gemma-3-270m-Q4_K_M"} <= models
