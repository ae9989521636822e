"""HardwareProfile JSON round trip and error paths."""

from __future__ import annotations

import json

import pytest

from engine.errors import CorruptInputError
from engine.hardware import PRESETS, HardwareProfile


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name: str) -> None:
    profile = PRESETS[name]
    assert HardwareProfile.from_json(profile.to_json()) == profile


def test_json_carries_schema_version() -> None:
    assert json.loads(PRESETS["rtx3060-12gb"].to_json())["schema"] == 1


def test_sums_over_gpus() -> None:
    two = PRESETS["2x-rtx3090"]
    assert two.vram_total_bytes == 2 * 24576 * 1024**2
    assert two.vram_free_bytes == two.gpus[0].free_bytes + two.gpus[1].free_bytes
    assert not two.unified_memory
    assert PRESETS["m2-max-32gb"].unified_memory


def test_not_json_is_corrupt_input() -> None:
    with pytest.raises(CorruptInputError, match="not valid JSON"):
        HardwareProfile.from_json("{nope")


def test_missing_field_is_corrupt_input() -> None:
    data = PRESETS["cpu-16gb"].to_dict()
    del data["ram_total_bytes"]
    with pytest.raises(CorruptInputError, match="incomplete"):
        HardwareProfile.from_dict(data)


def test_newer_schema_is_refused() -> None:
    data = PRESETS["cpu-16gb"].to_dict()
    data["schema"] = 99
    with pytest.raises(CorruptInputError, match="newer"):
        HardwareProfile.from_dict(data)


def test_list_instead_of_object_is_refused() -> None:
    with pytest.raises(CorruptInputError, match="JSON object"):
        HardwareProfile.from_json("[1, 2]")
