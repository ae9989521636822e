"""Choosing the device: NVML and CuPy faked through sys.modules, so every case runs without a GPU."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.quant import device as device_mod
from engine.quant.device import (
    CONTEXT_RESERVE_BYTES,
    FREE_MARGIN_FRACTION,
    KERNEL_BYTES_PER_VALUE,
    MAX_BATCH_VALUES,
    MIN_BATCH_VALUES,
    PIPELINE_SLOTS,
    SLOT_BYTES_PER_VALUE,
    DeviceChoice,
    batch_values_for,
    choose_device,
    usable_bytes,
)
from tests.unit.engine.quant.fake_cupy import FakeCupy, fake_nvml

GIB = 1 << 30
ROOT = Path(__file__).resolve().parents[4]
BUS_A, BUS_B = "0000:01:00.0", "0000:41:00.0"


def install(monkeypatch: pytest.MonkeyPatch, nvml: object, cupy: object) -> None:
    """Put fakes (or None, which makes the import fail) where ``import pynvml`` / ``import cupy`` look."""
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setitem(sys.modules, "cupy", cupy)


def test_cpu_is_chosen_without_asking_nvml_or_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None, None)
    monkeypatch.setattr(device_mod, "_best_gpu", lambda: pytest.fail("GPU probed"))
    choice = choose_device("cpu")
    assert choice == DeviceChoice("cpu", "the CPU was asked for")
    assert not choice.is_gpu and choice.describe() == "CPU"


def test_no_nvidia_driver_means_cpu_with_the_reason_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install(monkeypatch, fake_nvml(None, init_error=True), FakeCupy())
    monkeypatch.setattr(device_mod, "load_cupy", lambda: pytest.fail("CuPy imported without a GPU"))
    with caplog.at_level(logging.INFO, logger="engine.quant.device"):
        choice = choose_device("auto")
    assert choice.kind == "cpu" and choice.batch_values == 0
    assert "no NVIDIA driver" in choice.reason
    assert [r.getMessage() for r in caplog.records] == [f"Quantizing on the CPU: {choice.reason}."]


def test_missing_nvml_package_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None, FakeCupy())
    assert "nvidia-ml-py" in choose_device("auto").reason


def test_driver_without_gpus_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml({})
    install(monkeypatch, nvml, FakeCupy())
    monkeypatch.setattr(device_mod, "load_cupy", lambda: pytest.fail("CuPy imported without a GPU"))
    choice = choose_device("auto")
    assert choice.kind == "cpu" and "reports no GPU" in choice.reason
    assert nvml.state == {"init": 1, "shutdown": 1}  # type: ignore[attr-defined]


def test_missing_cupy_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA H100", 70 * GIB)}), None)
    choice = choose_device("auto")
    assert choice.kind == "cpu" and choice.reason == "CuPy is not installed"


def test_a_broken_cupy_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA H100", 70 * GIB)}), FakeCupy())

    def broken() -> None:
        raise OSError("libcudart.so.12: cannot open shared object file")

    monkeypatch.setattr(device_mod, "load_cupy", broken)
    choice = choose_device("auto")
    assert choice.kind == "cpu" and "libcudart" in choice.reason


def test_cuda_runtime_failure_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cupy = FakeCupy()

    def no_driver() -> int:
        raise RuntimeError("cudaErrorInsufficientDriver")

    cupy.cuda.runtime.getDeviceCount = no_driver
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA H100", 70 * GIB)}), cupy)
    assert "CUDA could not start" in choose_device("auto").reason


def test_cuda_seeing_no_gpu_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA H100", 70 * GIB)}), FakeCupy(bus_ids=()))
    assert "CUDA_VISIBLE_DEVICES" in choose_device("auto").reason


def test_one_gpu_is_chosen_with_its_batch(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA H100 80GB HBM3", 70 * GIB)}), FakeCupy((BUS_A,)))
    with caplog.at_level(logging.INFO, logger="engine.quant.device"):
        choice = choose_device("auto")
    assert choice == DeviceChoice("gpu", "CuPy and an NVIDIA GPU are available", gpu_index=0,
                                  gpu_name="NVIDIA H100 80GB HBM3", free_bytes=70 * GIB,
                                  batch_values=MAX_BATCH_VALUES, memory_limit_bytes=usable_bytes(70 * GIB))
    assert choice.describe() == "GPU 0 (NVIDIA H100 80GB HBM3, 70.0 GiB free)"
    assert caplog.records[-1].getMessage().startswith("Quantizing on GPU 0 (NVIDIA H100 80GB HBM3")


def test_the_gpu_with_more_free_memory_wins_by_cuda_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA lists B first (fastest first), NVML's bus order puts A first: the CUDA index must be B's."""
    nvml = fake_nvml({BUS_A: ("NVIDIA RTX 4090", 20 * GIB), BUS_B: ("NVIDIA RTX 3060", 11 * GIB)})
    install(monkeypatch, nvml, FakeCupy((BUS_B, BUS_A)))
    choice = choose_device("gpu")
    assert (choice.gpu_index, choice.gpu_name, choice.free_bytes) == (1, "NVIDIA RTX 4090", 20 * GIB)
    assert choice.reason == "it has the most free memory"


def test_a_tie_goes_to_the_first_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("A", 8 * GIB), BUS_B: ("B", 8 * GIB)}), FakeCupy((BUS_B, BUS_A)))
    assert choose_device("auto").gpu_index == 0


def test_too_little_free_memory_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA GT 1030", 700 << 20)}), FakeCupy((BUS_A,)))
    choice = choose_device("auto")
    assert choice.kind == "cpu"
    assert choice.reason.startswith("GPU 0 (NVIDIA GT 1030) has only 700 MiB free and needs about")


@pytest.mark.parametrize(("nvml", "cupy", "words"), [
    (fake_nvml(None, init_error=True), FakeCupy(), "no NVIDIA driver"),
    (fake_nvml({BUS_A: ("NVIDIA H100", 70 * GIB)}), None, "CuPy is not installed"),
    (fake_nvml({BUS_A: ("NVIDIA GT 1030", 700 << 20)}), FakeCupy((BUS_A,)), "has only 700 MiB free"),
])
def test_forcing_the_gpu_without_one_says_why(
    monkeypatch: pytest.MonkeyPatch, nvml: object, cupy: object, words: str
) -> None:
    install(monkeypatch, nvml, cupy)
    with pytest.raises(UsageError) as err:
        choose_device("gpu")
    assert err.value.message.startswith("The GPU cannot be used for quantizing: ")
    assert words in err.value.message
    assert err.value.hint


def test_cupy_missing_hint_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, fake_nvml({BUS_A: ("NVIDIA H100", 70 * GIB)}), None)
    with pytest.raises(UsageError, match=r"quantpick\[gpu\]"):
        choose_device("gpu")


@pytest.mark.parametrize("request_", ["tpu", "", "GPU0"])
def test_unknown_device_is_a_usage_error(request_: str) -> None:
    with pytest.raises(UsageError, match="is not a device"):
        choose_device(request_)


def test_request_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, None, None)
    assert choose_device(" CPU ").kind == "cpu"


def test_batch_follows_free_memory_and_margin() -> None:
    per_value = KERNEL_BYTES_PER_VALUE + PIPELINE_SLOTS * SLOT_BYTES_PER_VALUE
    free = 2 * GIB
    usable = int(free * (1 - FREE_MARGIN_FRACTION)) - CONTEXT_RESERVE_BYTES
    assert usable_bytes(free) == usable
    expected = usable // per_value
    expected -= expected % (1 << 16)
    assert MIN_BATCH_VALUES <= batch_values_for(free) == expected < MAX_BATCH_VALUES
    # More memory, bigger batches, up to the cap; the reserve alone leaves nothing.
    sizes = [batch_values_for(f) for f in (GIB, 2 * GIB, 3 * GIB, 80 * GIB)]
    assert sizes == sorted(sizes) and sizes[-1] == MAX_BATCH_VALUES
    assert batch_values_for(CONTEXT_RESERVE_BYTES) == 0
    assert usable_bytes(0) == 0


def test_the_whole_batch_fits_in_the_usable_memory() -> None:
    for free in (2 * GIB, 3 * GIB, 6 * GIB, 24 * GIB):
        batch = batch_values_for(free)
        need = batch * (KERNEL_BYTES_PER_VALUE + PIPELINE_SLOTS * SLOT_BYTES_PER_VALUE)
        assert 0 < need <= usable_bytes(free)


def test_cli_and_engine_never_import_cupy() -> None:
    """Importing the engine, the conversion and the CLI, and choosing a device here, loads no CuPy."""
    code = (
        "import sys, engine.quant, engine.quant.device, engine.quant.gpu_pipeline, engine.convert.run;"
        "from engine.cli.main import build_parser; build_parser();"
        "from engine.quant.device import choose_device; choose_device('cpu');"
        "print([m for m in sys.modules if m.split('.')[0] == 'cupy'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
