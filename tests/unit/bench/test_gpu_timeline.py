"""bench.gpu_timeline's table: medians per step, repeated steps folded into span and summed time."""

from __future__ import annotations

from bench.gpu_timeline import _summarise


def test_steps_are_medians_in_start_order_and_batches_fold() -> None:
    def run(shift: float) -> list[list]:
        return [
            ["execute", "MainThread", 0.5 + shift, 1.5 + shift],
            ["open source", "MainThread", 0.1 + shift, 0.2 + shift],
            ["batch", "MainThread", 0.6 + shift, 0.7 + shift],
            ["batch", "MainThread", 0.8 + shift, 1.0 + shift],
        ]

    lines = _summarise([(2.0, run(0.0)), (3.0, run(0.1)), (2.5, run(0.2))])
    rows = [line.split(" | ") for line in lines[2:]]
    assert [r[0].lstrip("| ") for r in rows] == [
        "open source", "execute", "batches (2), first start to last end", "batches, time inside them (summed)",
        "whole process (parent's clock)"]
    assert rows[0][1:3] == ["0.200", "0.300"]  # the median run's start and end
    assert rows[2][1:3] == ["0.700", "1.100"]
    assert rows[3][3].startswith("0.300")  # 0.1 + 0.2 s inside the two batches
    assert rows[4][2:] == ["2.500", "min 2.000 |"]
