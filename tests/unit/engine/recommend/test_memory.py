"""Per-device memory: where weights, KV cache and compute buffers land."""

from __future__ import annotations

from dataclasses import replace

from engine.hardware import PRESETS
from engine.recommend import ContextParams, estimate, weight_plan
from engine.recommend.memory import host_inputs, repack_types
from engine.recommend.placement import Placement, cpu_only
from engine.recommend.weights import rules_for
from tests.unit.engine.recommend.helpers import q8_bytes, tiny

GPU = PRESETS["rtx3060-12gb"].gpus
TWO = PRESETS["2x-rtx3090"].gpus
CTX = ContextParams(n_ctx=1024)


def test_full_offload_keeps_embeddings_on_host_and_duplicates_tied_output() -> None:
    desc = tiny(tied=True)
    plan = weight_plan(desc)
    est = estimate(desc, plan, CTX, GPU, Placement(3, (3,)))
    cuda = rules_for("cuda")
    assert est.host.model == rules_for("cpu").alloc_size(desc.tensors[0].source, desc.tensors[0].shape)
    assert est.gpus[0].model == sum(cuda.alloc_size(t.qtype, t.shape) for t in plan.tensors if t.layer >= 0)
    assert est.gpus[0].context == 2 * 2 * 1024 * 64 and est.host.context == 0
    assert est.host.compute == host_inputs(desc, CTX)
    assert est.host.output == 256 * 4


def test_cpu_layers_and_their_kv_stay_on_host() -> None:
    desc = tiny()
    est = estimate(desc, weight_plan(desc), CTX, GPU, Placement(1, (1,)))  # only the output layer on the GPU
    assert est.host.context == 2 * 2 * 1024 * 64 and est.gpus[0].context == 0
    no_kqv = estimate(desc, weight_plan(desc), replace(CTX, offload_kqv=False), GPU, Placement(3, (3,)))
    assert no_kqv.gpus[0].context == 0 and no_kqv.host.context == 2 * 2 * 1024 * 64


def test_op_offload_copies_cpu_weights_into_the_gpu_buffer() -> None:
    desc = tiny()
    plan = weight_plan(desc)
    with_offload = estimate(desc, plan, CTX, GPU, Placement(0, (0,)))
    without = estimate(desc, plan, CTX, GPU, Placement(0, (0,)), op_offload=False)
    assert with_offload.gpus[0].compute > 0 and without.gpus[0].compute == 0
    assert without.host.compute > with_offload.host.compute


def test_two_gpus_split_weights_and_pipeline_copies_inputs() -> None:
    desc = tiny(n_layer=4)
    plan = weight_plan(desc)
    est = estimate(desc, plan, CTX, TWO, Placement(5, (3, 2)))
    assert est.gpus[0].model > 0 and est.gpus[1].model > 0
    assert est.gpus[0].context == 3 * 2 * 1024 * 64 and est.gpus[1].context == 1 * 2 * 1024 * 64
    partial = estimate(desc, plan, CTX, TWO, Placement(4, (2, 2)))
    assert est.host.compute == 4 * (host_inputs(desc, CTX) - host_inputs(desc, CTX, 0)) + host_inputs(desc, CTX, 0)
    assert partial.host.compute < est.host.compute


def test_experts_of_the_first_layers_move_to_host() -> None:
    desc = tiny(n_layer=2, n_expert=4)
    plan = weight_plan(desc)
    all_gpu = estimate(desc, plan, CTX, GPU, Placement(3, (3,)))
    moe_cpu = estimate(desc, plan, CTX, GPU, Placement(3, (3,), n_cpu_moe=1))
    experts = 3 * q8_bytes(64 * 128 * 4)
    assert moe_cpu.host.model - all_gpu.host.model == experts


def test_repack_only_without_gpus() -> None:
    desc = tiny()
    assert repack_types(("avx2",)) and not repack_types(())
    cpu = estimate(desc, weight_plan(desc, "Q4_0"), CTX, [], cpu_only(), cpu_features=("avx2",))
    assert 0 < cpu.host.repacked < cpu.host.model
