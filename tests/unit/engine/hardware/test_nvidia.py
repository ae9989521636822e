"""NVML probe against a fake NVML module: values, bandwidth arithmetic, failing soft."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from engine.hardware.nvidia import probe_nvidia, visible_indices

MIB = 1024**2


class NVMLError(Exception):
    pass


class FakeNvml:
    """Two GPUs: an RTX 3060 (all calls work) and a card that does not report its bus width."""

    NVML_CLOCK_MEM = 2

    def __init__(self, *, init_fails: bool = False) -> None:
        self.init_fails = init_fails
        self.shut = False

    def nvmlInit(self) -> None:
        if self.init_fails:
            raise NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"550.54"

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> str:
        return ["NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 4090"][h]

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(total=12288 * MIB, free=(11900 - h) * MIB, used=0)

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return (8, 6)

    def nvmlDeviceGetMemoryBusWidth(self, h: int) -> int:
        if h == 1:
            raise NVMLError("Not Supported")
        return 192

    def nvmlDeviceGetMaxClockInfo(self, h: int, clock: int) -> int:
        assert clock == self.NVML_CLOCK_MEM
        return 7501


def test_reads_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = FakeNvml()
    notes: list[str] = []
    gpus = probe_nvidia(notes, nvml=fake)
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 4090"]
    first = gpus[0]
    assert first.total_bytes == 12288 * MIB and first.free_bytes == 11900 * MIB
    assert first.compute_capability == "8.6" and first.driver == "550.54" and first.backend == "cuda"
    assert first.bandwidth_bytes_s == pytest.approx(7501e6 * 2 * 192 / 8)  # 360 GB/s
    assert gpus[1].bandwidth_bytes_s == pytest.approx(1008e9)  # from the name table
    assert fake.shut and notes == []


def test_no_driver_means_no_gpu_and_a_note() -> None:
    notes: list[str] = []
    assert probe_nvidia(notes, nvml=FakeNvml(init_fails=True)) == []
    assert "no driver" in notes[0]


def test_cuda_visible_devices_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    gpus = probe_nvidia([], nvml=FakeNvml())
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [(None, [0, 1, 2]), ("", []), ("2,0", [2, 0]), ("0,7,1", [0]), ("GPU-abc", [0, 1, 2]), ("-1", [])],
)
def test_visible_indices(env: str | None, expected: list[int]) -> None:
    assert visible_indices(3, env) == expected
