"""The GPU pipeline's control flow on a numpy-backed fake CuPy: same bytes as the CPU, in order, read ahead."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from engine.errors import CancelledError, CorruptInputError, InvalidValuesError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant import kernel_for
from engine.quant.device import DeviceChoice
from engine.quant.gpu_pipeline import GpuPipeline, GpuTask, plan_batches, start_gpu
from tests.unit.engine.quant.fake_cupy import FakeCupy, FakeStream

CAPACITY = 4096  # values per batch: small, so a handful of rows already spans several batches


def gpu_choice(batch_values: int = CAPACITY) -> DeviceChoice:
    return DeviceChoice("gpu", "test", gpu_index=1, gpu_name="Fake", free_bytes=1 << 30,
                        batch_values=batch_values, memory_limit_bytes=123 << 20)


@pytest.fixture()
def cupy(monkeypatch: pytest.MonkeyPatch) -> FakeCupy:
    fake = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def rows_of(seed: int, n_rows: int, n_per_row: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n_rows, n_per_row), dtype=np.float32)


def task(rows: np.ndarray, qtype: GGMLType | None, imatrix: np.ndarray | None = None, name: str = "t") -> GpuTask:
    return GpuTask(lambda: rows, qtype, rows.shape[0], rows.shape[1], imatrix, name)


def cpu_bytes(t: GpuTask) -> np.ndarray:
    assert t.qtype is not None
    return kernel_for(t.qtype).quantize_rows(t.read(), imatrix=t.imatrix, name=t.name)


def no_fallback(t: GpuTask, rows: np.ndarray) -> np.ndarray:
    pytest.fail(f"{t.name} fell back to the CPU")


def run_all(pipe: GpuPipeline, tasks: list[GpuTask], fallback=no_fallback, cancel=None) -> list[np.ndarray]:  # noqa: ANN001
    return [np.array(data) for _, data in pipe.run(tasks, fallback=fallback, cancel=cancel)]


def mixed_tasks() -> list[GpuTask]:
    weights = np.abs(rows_of(99, 1, 512)[0]) + np.float32(0.1)
    return [
        task(rows_of(1, 6, 256), GGMLType.Q8_0, name="a"),
        task(rows_of(2, 4, 256), GGMLType.Q8_0, name="b"),  # joins a
        task(rows_of(3, 8, 512), GGMLType.Q4_K, name="c"),
        task(np.arange(24, dtype=np.uint8).reshape(2, 12), None, name="raw"),
        task(rows_of(4, 3, 512), GGMLType.Q6_K, name="d"),
        task(rows_of(5, 8, 512), GGMLType.Q5_0, weights, name="e"),
        task(rows_of(6, 8, 512), GGMLType.Q5_0, weights, name="f"),  # same weights: joins e
        task(rows_of(7, 2, 256), GGMLType.IQ4_XS, name="g"),
        task(rows_of(8, 5, 256), GGMLType.Q3_K, name="h"),
        task(rows_of(9, 4, 256), GGMLType.F16, name="i"),
    ]


@pytest.mark.parametrize("slots", [2, 4])
def test_bytes_equal_the_cpu_path_in_order(cupy: FakeCupy, slots: int) -> None:
    tasks = mixed_tasks()
    with GpuPipeline(gpu_choice(), slots=slots) as pipe:
        got = run_all(pipe, tasks)
    assert len(got) == len(tasks)
    for t, data in zip(tasks, got, strict=True):
        expected = t.read() if t.qtype is None else cpu_bytes(t)
        assert data.dtype == np.uint8 and np.array_equal(data, expected), t.name


def test_buffers_streams_and_pool_limit(cupy: FakeCupy) -> None:
    pipe = GpuPipeline(gpu_choice(), slots=3)
    assert cupy.devices_used == [1]  # the chosen GPU's CUDA index
    assert cupy.pool.limit == 123 << 20  # NVML's free memory less the margin
    assert cupy.pinned_bytes == 4  # the compiled path's read-back word; the rest is pinned where first needed
    assert len(cupy.streams) == 4 and all(s.non_blocking for s in cupy.streams)
    tasks = mixed_tasks()[:3]
    run_all(pipe, tasks)
    widest = max(t.n_values for t in tasks) * 4  # float32 rows in; the outputs are far smaller
    assert widest < cupy.pinned_bytes <= 2 * 3 * widest
    slot_stream, compute = pipe.slots[0].stream, pipe.stream
    assert slot_stream.log[:2] == [("set", pipe.slots[0].host_in.ctypes.data), ("record", None)]
    assert compute.log[0] == ("wait", slot_stream)  # kernels wait for their upload, not for everything
    got = compute.log.index(("get", pipe.slots[0].host_out.ctypes.data))  # download into pinned memory...
    assert compute.log[got + 1] == ("synchronize", None)  # ...finished before the bytes are handed out
    pipe.close()
    assert cupy.pool.limit == 0 and cupy.pool.freed == 1 and cupy.pinned_pool.freed == 1


def test_readers_run_ahead_of_the_kernels(cupy: FakeCupy) -> None:
    """The first batch's kernels wait until the second batch is being read: no serial read-compute loop."""
    second_read = threading.Event()
    a, b = rows_of(1, 4, 256), rows_of(2, 4, 256)

    def read_b() -> np.ndarray:
        second_read.set()
        return b

    tasks = [task(a, GGMLType.Q8_0), GpuTask(read_b, GGMLType.Q4_0, 4, 256)]
    with GpuPipeline(gpu_choice(), slots=2) as pipe:
        waited: list[bool] = []
        pipe.stream.on_wait = lambda event: waited.append(second_read.wait(timeout=10))
        run_all(pipe, tasks)
    assert waited[0] is True


def test_nan_batches_go_to_the_fallback_with_their_rows(cupy: FakeCupy) -> None:
    bad = rows_of(1, 4, 256)
    bad[2, 7] = np.nan
    tasks = [task(rows_of(0, 4, 256), GGMLType.Q8_0, name="good"), task(bad, GGMLType.Q8_0, name="bad"),
             task(rows_of(2, 4, 512), GGMLType.Q8_0, name="after")]
    seen: list[str] = []

    def fallback(t: GpuTask, rows: np.ndarray) -> np.ndarray:
        seen.append(t.name)
        assert np.array_equal(rows, t.read(), equal_nan=True)
        return np.full((t.n_rows, 3), 7, np.uint8)

    with GpuPipeline(gpu_choice(), slots=2) as pipe:
        got = run_all(pipe, tasks, fallback)
    assert seen == ["good", "bad"]  # the whole batch (good joined bad), in order; "after" stayed on the GPU
    assert np.array_equal(got[2], cpu_bytes(tasks[2]))


def test_a_scale_overflow_goes_to_the_fallback(cupy: FakeCupy) -> None:
    huge = rows_of(1, 2, 256) * np.float32(1e12)  # finite, but Q8_0's float16 scale overflows
    with pytest.raises(InvalidValuesError):
        cpu_bytes(task(huge, GGMLType.Q8_0))
    with GpuPipeline(gpu_choice()) as pipe:
        got = run_all(pipe, [task(huge, GGMLType.Q8_0)], lambda t, rows: np.zeros((2, 1), np.uint8))
    assert got[0].shape == (2, 1)


def test_out_of_gpu_memory_goes_to_the_fallback(cupy: FakeCupy, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.engine.quant.fake_cupy import OutOfMemoryError

    kernel = kernel_for(GGMLType.Q8_0)

    def oom(*a: object, **k: object) -> None:
        raise OutOfMemoryError("out of memory allocating 2 GiB")

    monkeypatch.setattr(type(kernel), "quantize_rows", oom)
    rows = rows_of(1, 2, 256)
    with GpuPipeline(gpu_choice()) as pipe:
        got = run_all(pipe, [task(rows, GGMLType.Q8_0)], lambda t, r: np.ones((2, 1), np.uint8))
        assert cupy.pool.freed == 1
    assert got[0].tolist() == [[1], [1]]


def test_a_row_longer_than_a_batch_goes_to_the_cpu(cupy: FakeCupy) -> None:
    long_row = rows_of(1, 1, 2 * CAPACITY)
    with GpuPipeline(gpu_choice()) as pipe:
        got = run_all(pipe, [task(long_row, GGMLType.Q8_0)], lambda t, rows: cpu_bytes(t))
    assert np.array_equal(got[0], cpu_bytes(task(long_row, GGMLType.Q8_0)))


def test_the_earliest_read_error_is_raised_and_readers_stop(cupy: FakeCupy) -> None:
    reads: list[str] = []

    def reader(name: str, fail: bool) -> GpuTask:
        def read() -> np.ndarray:
            reads.append(name)
            if fail:
                raise CorruptInputError(f"{name} is damaged")
            return rows_of(0, 2, 256)
        return GpuTask(read, GGMLType.Q8_0, 2, 256, name=name)

    # Row lengths differ, so every task is a batch of its own.
    tasks = [reader("a", False), reader("b", True), GpuTask(lambda: rows_of(0, 1, 512), GGMLType.Q8_0, 1, 512)]
    before = threading.active_count()
    pipe = GpuPipeline(gpu_choice(), slots=2)
    with pytest.raises(CorruptInputError, match="b is damaged"):
        run_all(pipe, tasks)
    pipe.close()
    assert threading.active_count() == before and reads == ["a", "b"]


def test_a_short_read_is_refused(cupy: FakeCupy) -> None:
    short = GpuTask(lambda: rows_of(0, 1, 256), GGMLType.Q8_0, 3, 256, name="blk.0.ffn_up.weight")
    with GpuPipeline(gpu_choice()) as pipe, pytest.raises(UsageError, match="blk.0.ffn_up.weight"):
        run_all(pipe, [short])


def test_cancel_stops_between_batches(cupy: FakeCupy) -> None:
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    tasks = [task(rows_of(i, 2, 256 * (i + 1)), GGMLType.Q8_0) for i in range(6)]
    with GpuPipeline(gpu_choice(), slots=2) as pipe:
        results: Iterator[tuple[GpuTask, np.ndarray]] = pipe.run(tasks, fallback=no_fallback, cancel=cancel)
        with pytest.raises(CancelledError):
            for _ in results:
                pass
        assert calls["n"] == 3


def test_stopping_early_waits_for_reads_in_flight(cupy: FakeCupy) -> None:
    """The consumer stops (a full disk): a read still filling a slot finishes before the slots are freed."""
    finished = threading.Event()

    def slow_read() -> np.ndarray:
        finished.wait(0.3)
        finished.set()
        return rows_of(1, 2, 512)

    tasks = [task(rows_of(0, 2, 256), GGMLType.Q8_0), GpuTask(slow_read, GGMLType.Q8_0, 2, 512),
             task(rows_of(2, 2, 1024), GGMLType.Q8_0), task(rows_of(3, 2, 2048), GGMLType.Q8_0)]
    with GpuPipeline(gpu_choice(), slots=3) as pipe:
        results = pipe.run(tasks, fallback=no_fallback)
        next(results)
        results.close()
        assert finished.is_set()
    assert pipe.slots == []


def test_a_cpu_choice_is_refused(cupy: FakeCupy) -> None:
    with pytest.raises(UsageError):
        GpuPipeline(DeviceChoice("cpu", "asked"))
    with pytest.raises(UsageError):
        GpuPipeline(gpu_choice(), slots=1)


# -- batching ----------------------------------------------------------------------------------------
def meta(qtype: GGMLType | None, n_rows: int, n_per_row: int = 256, imatrix: np.ndarray | None = None) -> GpuTask:
    return GpuTask(lambda: pytest.fail("read"), qtype, n_rows, n_per_row, imatrix)


def shapes(batches: list[tuple[GpuTask, ...]]) -> list[list[int]]:
    return [[t.n_rows for t in b] for b in batches]


def test_batches_pack_consecutive_compatible_tasks_up_to_capacity() -> None:
    tasks = [meta(GGMLType.Q4_K, n) for n in (4, 4, 4, 8, 1)]
    assert shapes(list(plan_batches(tasks, 16 * 256))) == [[4, 4, 4], [8, 1]]


def test_batches_split_on_type_row_length_and_weights() -> None:
    w1, w2 = np.ones(256, np.float32), np.ones(256, np.float32)
    tasks = [meta(GGMLType.Q4_K, 1), meta(GGMLType.Q6_K, 1), meta(GGMLType.Q6_K, 1, 512),
             meta(GGMLType.Q6_K, 1, 512, w1), meta(GGMLType.Q6_K, 1, 512, w1), meta(GGMLType.Q6_K, 1, 512, w2)]
    assert shapes(list(plan_batches(tasks, 1 << 20))) == [[1], [1], [1], [1, 1], [1]]


def test_pass_through_and_oversized_tasks_stand_alone() -> None:
    tasks = [meta(None, 1), meta(None, 1), meta(GGMLType.Q8_0, 1), meta(GGMLType.Q8_0, 40), meta(GGMLType.Q8_0, 1)]
    assert shapes(list(plan_batches(tasks, 16 * 256))) == [[1], [1], [1], [40], [1]]
    assert list(plan_batches([], 10)) == []


@pytest.mark.parametrize("raw_type", [GGMLType.BF16, GGMLType.F16, GGMLType.F32])
def test_stored_rows_are_widened_on_the_gpu(cupy: FakeCupy, raw_type: GGMLType) -> None:
    """Raw tasks upload the stored bytes; the bytes out equal quantizing the widened rows on the CPU."""
    stored = kernel_for(raw_type).quantize_rows(rows_of(7, 6, 256))
    wide = kernel_for(raw_type).dequantize_rows(stored, 256)

    def raw_task(rows: slice) -> GpuTask:
        return GpuTask(lambda: pytest.fail("float read"), GGMLType.Q4_K, rows.stop - rows.start, 256,
                       read_raw=lambda: stored[rows], raw_type=raw_type)

    with GpuPipeline(gpu_choice()) as pipe:
        got = run_all(pipe, [raw_task(slice(0, 2)), raw_task(slice(2, 6))])
    assert (np.concatenate(got) == kernel_for(GGMLType.Q4_K).quantize_rows(wide)).all()
    output = kernel_for(GGMLType.Q4_K).row_bytes(256) * 6
    assert cupy.pinned_bytes == 4 + stored.nbytes + output  # the stored width is pinned, not float32


def test_declined_raw_batch_gives_the_fallback_float_rows(cupy: FakeCupy) -> None:
    rows = rows_of(8, 2, 256)
    rows[1, 3] = np.nan
    stored = kernel_for(GGMLType.F32).quantize_rows(rows)
    seen: list[np.ndarray] = []

    def fallback(t: GpuTask, got: np.ndarray) -> np.ndarray:
        seen.append(got)
        return np.zeros((t.n_rows, kernel_for(GGMLType.Q8_0).row_bytes(256)), dtype=np.uint8)

    t = GpuTask(lambda: rows, GGMLType.Q8_0, 2, 256, read_raw=lambda: stored, raw_type=GGMLType.F32)
    with GpuPipeline(gpu_choice()) as pipe:
        run_all(pipe, [t], fallback=fallback)
    assert len(seen) == 1 and seen[0].dtype == np.float32 and np.array_equal(seen[0], rows, equal_nan=True)


def test_start_gpu_opens_the_chosen_device_and_a_cpu_choice_nothing(cupy: FakeCupy) -> None:
    start_gpu(DeviceChoice("cpu", "test"))
    assert cupy.devices_used == []
    start_gpu(gpu_choice())
    assert cupy.devices_used == [1]
