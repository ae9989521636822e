"""Exact weight bytes and per-backend buffer sizes."""

from __future__ import annotations

from engine.formats.ggml_types import GGMLType, tensor_bytes
from engine.recommend.weights import BufferRules, rules_for, weight_plan
from tests.unit.engine.recommend.helpers import q8_bytes, tiny


def test_plan_as_is_adds_up_by_hand() -> None:
    desc = tiny()
    plan = weight_plan(desc)
    E, F, V, D = 64, 128, 256, 32
    per_layer = q8_bytes(E * 2 * D) * 2 + q8_bytes(E * D) * 2 + q8_bytes(E * F) * 3 + 2 * E * 4
    assert plan.file_bytes == 2 * q8_bytes(E * V) + E * 4 + 2 * per_layer
    assert plan.layer_bytes(0, BufferRules(1)) == per_layer
    assert plan.layer_bytes(-1, BufferRules(1)) == q8_bytes(E * V)
    assert plan.layer_bytes(2, BufferRules(1)) == q8_bytes(E * V) + E * 4  # output layer = norm + matrix


def test_tied_output_is_loaded_twice() -> None:
    plan = weight_plan(tiny(tied=True))
    names = [t.name for t in plan.tensors if t.layer == 2]
    assert "output.weight (tied)" in names
    assert sum(t.nbytes for t in plan.tensors) == plan.file_bytes + q8_bytes(64 * 256)


def test_cuda_pads_the_last_row_and_aligns() -> None:
    cuda = rules_for("cuda")
    # 64 values per row: 448 more values of padding = 14 Q8_0 blocks, then 128-byte alignment
    raw = tensor_bytes(GGMLType.Q8_0, (64, 10))
    assert cuda.alloc_size(GGMLType.Q8_0, (64, 10)) == -(-(raw + 14 * 34) // 128) * 128
    assert cuda.alloc_size(GGMLType.F32, (64,)) == 256  # not quantized: no row padding
    assert rules_for("cpu").alloc_size(GGMLType.F32, (3,)) == 32
    assert rules_for("unknown-backend") == rules_for("cpu")


def test_requantized_sizes_follow_the_type_rules() -> None:
    desc = tiny(qtype=GGMLType.F32)
    plan = weight_plan(desc, "Q8_0")
    assert plan.file_type.name == "Q8_0"
    quantized = {t.name: t.qtype for t in plan.tensors}
    assert quantized["blk.0.attn_q.weight"] == GGMLType.Q8_0
    assert quantized["blk.0.attn_norm.weight"] == GGMLType.F32
    assert plan.file_bytes == sum(tensor_bytes(t.qtype, t.shape) for t in plan.tensors)
