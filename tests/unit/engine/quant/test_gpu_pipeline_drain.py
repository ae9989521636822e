"""``GpuPipeline.drain``: run's bytes, in order, handed to a sink on a writer thread that never sees a reused buffer."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from engine.errors import CancelledError, OutOfDiskError
from engine.formats.ggml_types import GGMLType
from engine.quant.gpu_pipeline import GpuPipeline, GpuTask
from tests.unit.engine.quant.fake_cupy import FakeCupy
from tests.unit.engine.quant.test_gpu_pipeline import cpu_bytes, gpu_choice, mixed_tasks, no_fallback, rows_of, task


@pytest.fixture()
def cupy(monkeypatch: pytest.MonkeyPatch) -> FakeCupy:
    fake = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def many_batches(n: int = 14) -> list[GpuTask]:
    """``n`` tasks of 16 rows x 256: one full 4096-value batch each, more batches than slots."""
    return [task(rows_of(100 + i, 16, 256), GGMLType.Q8_0, name=f"t{i}") for i in range(n)]


class Recorder:
    """A sink that copies what it is given, slowly, and notes its thread and when it ran."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.got: list[tuple[str, np.ndarray]] = []
        self.threads: set[str] = set()
        self.last_call = 0.0

    def __call__(self, t: GpuTask, data: np.ndarray) -> None:
        time.sleep(self.delay_s)  # a slow disk: the GPU side runs ahead and reuses slots meanwhile
        self.got.append((t.name, np.array(data)))
        self.threads.add(threading.current_thread().name)
        self.last_call = time.monotonic()


@pytest.mark.parametrize("slots", [2, 3])
def test_the_sink_gets_the_cpu_bytes_in_order_even_when_slow(cupy: FakeCupy, slots: int) -> None:
    tasks = many_batches() + mixed_tasks()
    sink = Recorder(delay_s=0.002)
    with GpuPipeline(gpu_choice(), slots=slots) as pipe:
        pipe.drain(tasks, sink, fallback=no_fallback)
    assert [name for name, _ in sink.got] == [t.name for t in tasks]
    for t, (_, data) in zip(tasks, sink.got, strict=True):
        expected = t.read() if t.qtype is None else cpu_bytes(t)
        assert np.array_equal(data, expected), t.name
    assert sink.threads and threading.current_thread().name not in sink.threads


def test_a_slot_waits_for_the_sink_before_its_output_is_reused(cupy: FakeCupy) -> None:
    """With a sink that is still holding batch 0, batch 0's slot cannot be filled again."""
    tasks = many_batches(6)
    release = threading.Event()
    seen: list[np.ndarray] = []

    def sink(t: GpuTask, data: np.ndarray) -> None:
        if t.name == "t0":
            assert release.wait(10)
        seen.append(np.array(data))

    with GpuPipeline(gpu_choice(), slots=2) as pipe:
        done = threading.Thread(target=pipe.drain, args=(tasks, sink), kwargs={"fallback": no_fallback})
        done.start()
        time.sleep(0.2)
        assert not seen  # t0 blocks the writer, and t2 (slot 0 again) has not overwritten t0's bytes
        release.set()
        done.join(10)
    assert [np.array_equal(s, cpu_bytes(t)) for s, t in zip(seen, tasks, strict=True)] == [True] * 6


def test_a_sink_error_stops_the_conversion_and_is_raised(cupy: FakeCupy) -> None:
    calls: list[str] = []

    def full_disk(t: GpuTask, data: np.ndarray) -> None:
        calls.append(t.name)
        if t.name == "t3":
            raise OutOfDiskError("The disk is full.")

    with GpuPipeline(gpu_choice(), slots=2) as pipe, pytest.raises(OutOfDiskError):
        pipe.drain(many_batches(), full_disk, fallback=no_fallback)
    assert calls[-1] == "t3"  # nothing was written after the failed write


def test_a_fallback_error_waits_for_earlier_writes_and_nothing_writes_after(cupy: FakeCupy) -> None:
    bad = rows_of(7, 16, 256)
    bad[3, 5] = np.nan
    tasks = [*many_batches(4), task(bad, GGMLType.Q8_0, name="bad"), *many_batches(3)]
    sink = Recorder(delay_s=0.01)

    def refuse(t: GpuTask, rows: np.ndarray) -> np.ndarray:
        raise ValueError(f"{t.name} holds NaN")

    with GpuPipeline(gpu_choice(), slots=2) as pipe, pytest.raises(ValueError, match="bad holds NaN"):
        pipe.drain(tasks, sink, fallback=refuse)
    returned = time.monotonic()
    assert [name for name, _ in sink.got] == ["t0", "t1", "t2", "t3"]
    assert sink.last_call <= returned
    time.sleep(0.05)
    assert len(sink.got) == 4


def test_cancel_stops_between_batches(cupy: FakeCupy) -> None:
    sink = Recorder()
    asked = iter(range(100))

    def cancel() -> bool:
        return next(asked) >= 3

    with GpuPipeline(gpu_choice(), slots=2) as pipe, pytest.raises(CancelledError):
        pipe.drain(many_batches(), sink, fallback=no_fallback, cancel=cancel)
    assert len(sink.got) < len(many_batches())
    assert all(slot.written is None for slot in pipe.slots)
