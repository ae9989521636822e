"""Named presets: the machines the issue asks for exist and look like those machines."""

from __future__ import annotations

import pytest

from engine.errors import UsageError
from engine.hardware import GIB, PRESETS, preset


def test_required_presets_exist() -> None:
    for name in ("laptop-8gb", "rtx3060-12gb", "rtx4090-24gb", "2x-rtx3090", "m2-max-32gb", "cpu-16gb"):
        assert name in PRESETS


def test_lookup_ignores_case_and_underscores() -> None:
    assert preset("RTX3060_12GB") is PRESETS["rtx3060-12gb"]


def test_unknown_preset_lists_the_names() -> None:
    with pytest.raises(UsageError) as info:
        preset("rtx9999")
    assert "rtx4090-24gb" in info.value.hint


def test_shapes_of_presets() -> None:
    assert PRESETS["cpu-16gb"].gpus == ()
    assert PRESETS["laptop-8gb"].ram_total_bytes == 8 * GIB
    assert PRESETS["rtx3060-12gb"].gpus[0].total_bytes == 12 * GIB
    assert len(PRESETS["2x-rtx3090"].gpus) == 2
    m2 = PRESETS["m2-max-32gb"].gpus[0]
    assert m2.unified and m2.backend == "metal"
    assert m2.total_bytes == pytest.approx(32 * GIB * 2 / 3, rel=1e-9)


def test_every_gpu_preset_has_bandwidth_and_free_below_total() -> None:
    for profile in PRESETS.values():
        assert profile.ram_available_bytes <= profile.ram_total_bytes
        for gpu in profile.gpus:
            assert gpu.bandwidth_bytes_s and gpu.bandwidth_bytes_s > 5e10
            assert 0 < gpu.free_bytes <= gpu.total_bytes
