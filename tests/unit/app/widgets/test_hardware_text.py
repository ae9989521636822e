"""The panel's words for a profile, and the custom editor's fields back into a profile."""

from __future__ import annotations

import pytest

from app.widgets.hardware_text import (
    cpu_text, disk_text, edited_profile, gpu_fields, gpu_from_fields, gpu_lines, preset_label, profile_title, ram_text,
)
from app.widgets.units import GIB
from engine.errors import UsageError
from engine.hardware import PRESETS


def test_rtx3060_preset_reads_as_a_simulated_12gb_card() -> None:
    p = PRESETS["rtx3060-12gb"]
    assert profile_title(p) == "Simulated: rtx3060-12gb"
    (line,) = gpu_lines(p)
    assert line.title == "GPU 0: NVIDIA GeForce RTX 3060"
    assert line.memory == "11.7 GiB free of 12.0 GiB"
    assert line.bandwidth == "360 GB/s"
    assert 0.02 < line.used_fraction < 0.04  # 350 MiB of 12 GiB
    assert ram_text(p).startswith("26.0 GiB available of 32.0 GiB")
    assert cpu_text(p) == "AMD Ryzen 7 5800X, 8 cores / 16 threads, AVX2"
    assert disk_text(p) == "not checked"
    assert preset_label(p) == "RTX 3060 (12 GiB), 32 GiB RAM"


def test_labels_for_two_gpus_and_cpu_only() -> None:
    assert preset_label(PRESETS["2x-rtx3090"]) == "2x RTX 3090 (24 GiB), 128 GiB RAM"
    assert preset_label(PRESETS["cpu-16gb"]).startswith("CPU only (AMD Ryzen 7 5800X)")
    assert "AVX-512" in cpu_text(PRESETS["rtx4090-24gb"])
    assert profile_title(PRESETS["cpu-16gb"].renamed("detected")) == "This computer"


def test_gpu_fields_round_trip_and_keep_probe_only_facts() -> None:
    gpu = PRESETS["rtx3060-12gb"].gpus[0]
    back = gpu_from_fields(gpu_fields(gpu), unified=False, base=gpu)
    assert back.name == gpu.name and back.compute_capability == "8.6"
    assert abs(back.total_bytes - gpu.total_bytes) < 0.01 * GIB
    assert back.bandwidth_bytes_s == gpu.bandwidth_bytes_s


@pytest.mark.parametrize(("fields", "needle"), [
    (["", "cuda", "8", "8", ""], "needs a name"),
    (["X", "opencl", "8", "8", ""], "not a GPU backend"),
    (["X", "cuda", "eight", "8", ""], "must be a number"),
    (["X", "cuda", "8", "9", ""], "more free memory"),
])
def test_bad_gpu_fields_say_what_is_wrong(fields: list[str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        gpu_from_fields(fields, unified=False)


def test_edited_profile_uses_the_new_numbers() -> None:
    base = PRESETS["cpu-16gb"]
    gpu = gpu_from_fields(["RTX 4090", "cuda", "24", "23,5", "1008"], unified=False)
    p = edited_profile(base, name="detected", ram_total_gib=64, ram_available_gib=50, ram_bandwidth_gbs=80,
                       cores=12, gpus=[gpu])
    assert p.name == "custom"  # never mistaken for a probe
    assert p.ram_total_bytes == 64 * GIB and p.vram_free_bytes == int(23.5 * GIB)
    assert p.cpu.physical_cores == 12 and p.gpus[0].bandwidth_bytes_s == 1008e9
    with pytest.raises(UsageError, match="Available RAM"):
        edited_profile(base, name="x", ram_total_gib=8, ram_available_gib=9, ram_bandwidth_gbs=50, cores=4, gpus=[])
