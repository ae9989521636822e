"""Bandwidth look-up by device name."""

from __future__ import annotations

import pytest

from engine.hardware.gpu_table import bandwidth_for


@pytest.mark.parametrize(
    ("name", "gbs"),
    [
        ("NVIDIA GeForce RTX 3090 Ti", 1008),
        ("NVIDIA GeForce RTX 3090", 936),
        ("NVIDIA GeForce RTX 4060 Ti", 288),
        ("NVIDIA GeForce RTX 4060 Laptop GPU", 256),
        ("Apple M2 Max", 400),
        ("Apple M2", 100),
        ("NVIDIA A100-SXM4-80GB", 2039),
        ("NVIDIA H100 PCIe", 2000),
        ("AMD Radeon RX 7900 XTX", 960),
    ],
)
def test_longest_name_wins(name: str, gbs: float) -> None:
    assert bandwidth_for(name) == pytest.approx(gbs * 1e9)


def test_whole_words_only() -> None:
    assert bandwidth_for("Apple M20") is None
    assert bandwidth_for("Matrox G200") is None
