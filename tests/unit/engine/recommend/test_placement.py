"""Layer placement exactly as llama.cpp numbers layers for -ngl and -ts."""

from __future__ import annotations

from engine.recommend.placement import CPU, Placement, all_on_gpus, split_by_fraction


def test_output_layer_is_offloaded_first() -> None:
    devices = Placement(1, (1,)).devices(4)
    assert devices == (CPU, CPU, CPU, CPU, 0)
    assert Placement(3, (3,)).devices(4) == (CPU, CPU, 0, 0, 0)
    assert Placement(99, (99,)).devices(4) == (0, 0, 0, 0, 0)
    assert Placement(0, ()).devices(2) == (CPU, CPU, CPU)


def test_layer_counts_per_gpu() -> None:
    p = Placement(5, (2, 3))
    assert p.devices(4) == (0, 0, 1, 1, 1)
    assert p.ts_arg == "2,3"
    assert Placement(5, (5,)).ts_arg == ""


def test_split_by_free_memory_rounds_like_upper_bound() -> None:
    # 33 layers, equal memory: j/33 < 0.5 for j <= 16 -> 17 on the first GPU
    assert split_by_fraction(33, 32, [1, 1]) == (17, 16)
    assert split_by_fraction(10, 20, [3, 1]) == (8, 2)
    assert all_on_gpus(32, [24, 8]).layers_per_gpu == (25, 8)
