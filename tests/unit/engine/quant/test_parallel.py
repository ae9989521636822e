"""The thread pool must give the single-threaded bytes for every type, and fail or cancel the same way."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import CancelledError, InvalidValuesError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.progress import CancelToken
from engine.quant import kernel_for, registered_types
from engine.quant import parallel
from engine.quant.registry import Kernel
from engine.quant.parallel import chunk_bounds, quantize_parallel

ROW = 512  # a whole number of blocks for every type (32 and 256)


@pytest.fixture(autouse=True)
def small_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny tasks so a small test tensor still splits into many chunks."""
    monkeypatch.setattr(parallel, "TASK_VALUES", 2 * ROW)


def _rows(n_rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_rows, ROW)) * rng.uniform(0.01, 3.0, (n_rows, 1))).astype(np.float32)


@pytest.mark.parametrize("qtype", registered_types(), ids=lambda t: t.name)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_same_bytes_as_single_call(qtype: GGMLType, threads: int) -> None:
    rows = _rows(13, seed=int(qtype))
    expected = kernel_for(qtype).quantize_rows(rows)
    got = quantize_parallel(rows, qtype, threads=threads)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("qtype", [t for t in registered_types() if kernel_for(t).uses_imatrix], ids=lambda t: t.name)
def test_imatrix_reaches_every_chunk(qtype: GGMLType) -> None:
    rows = _rows(9, seed=5)
    imatrix = np.random.default_rng(6).uniform(0.0, 4.0, ROW).astype(np.float32)
    expected = kernel_for(qtype).quantize_rows(rows, imatrix=imatrix)
    assert quantize_parallel(rows, qtype, threads=2, imatrix=imatrix).tobytes() == expected.tobytes()


def test_input_converted_per_chunk_like_the_kernel() -> None:
    rows64 = _rows(11).astype(np.float64)[:, ::-1]  # not float32, not contiguous
    expected = kernel_for("F16").quantize_rows(rows64)
    assert quantize_parallel(rows64, "F16", threads=2).tobytes() == expected.tobytes()


def test_default_thread_count_is_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    real = kernel_for("BF16").quantize_rows

    def spy(*args: object, **kwargs: object) -> object:
        seen.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(kernel_for("BF16"), "quantize_rows", spy)
    rows = _rows(24)
    out = quantize_parallel(rows, "BF16")
    assert out.tobytes() == real(rows).tobytes()
    assert seen and all(name.startswith("quantize") for name in seen)


@pytest.mark.parametrize(
    ("n_rows", "n_per_row", "threads"), [(1, 4096, 8), (4096, 4096, 2), (13, 512, 3), (1000, 32, 1), (7, 1 << 21, 4)]
)
def test_chunk_bounds_cover_rows_in_order(n_rows: int, n_per_row: int, threads: int) -> None:
    bounds = chunk_bounds(n_rows, n_per_row, threads)
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(a < b for a, b in bounds)
    assert all(prev[1] == cur[0] for prev, cur in zip(bounds, bounds[1:]))
    if threads > 1:  # enough tasks to keep every worker busy
        assert len(bounds) >= min(n_rows, threads * parallel.TASKS_PER_THREAD // 2)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("bad_row", [0, 6, 12])
def test_worker_error_propagates_unchanged(bad_row: int) -> None:
    rows = _rows(13)
    rows[bad_row, 7] = 1e6  # beyond the F16 range
    with pytest.raises(InvalidValuesError) as single:
        kernel_for("F16").quantize_rows(rows, name="blk.3.ffn_up.weight")
    with pytest.raises(InvalidValuesError) as pooled:
        quantize_parallel(rows, "F16", threads=3, name="blk.3.ffn_up.weight")
    assert str(pooled.value) == str(single.value)
    assert "blk.3.ffn_up.weight" in pooled.value.message


def test_cancel_by_return_value_stops_between_chunks() -> None:
    calls = 0

    def cancel_after_two() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    with pytest.raises(CancelledError, match="blk.0.attn_q.weight"):
        quantize_parallel(_rows(13), "F16", threads=1, cancel=cancel_after_two, name="blk.0.attn_q.weight")
    assert calls == 3


@pytest.mark.parametrize("threads", [1, 2])
def test_cancel_token_check_raises_its_own_error(threads: int) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        quantize_parallel(_rows(13), "BF16", threads=threads, cancel=token.check)


def test_cancel_check_that_never_fires_changes_nothing() -> None:
    token = CancelToken()
    rows = _rows(13)
    got = quantize_parallel(rows, "F16", threads=2, cancel=token.check)
    assert got.tobytes() == kernel_for("F16").quantize_rows(rows).tobytes()


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count(threads: object) -> None:
    with pytest.raises(UsageError, match="thread count"):
        quantize_parallel(_rows(2), "F16", threads=threads)  # type: ignore[arg-type]


def test_bad_shapes_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="2-D"):
        quantize_parallel(np.zeros(ROW, np.float32), "F16")
    if GGMLType.Q4_0 in registered_types():
        with pytest.raises(UsageError, match="multiple of 32"):
            quantize_parallel(np.zeros((2, 33), np.float32), "Q4_0")
    with pytest.raises(UsageError):
        quantize_parallel(_rows(2), "NOT_A_TYPE")


# -- forked worker processes (Linux) ------------------------------------------------------------------

needs_fork = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux-only")


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Send even tiny tensors to worker processes; the list collects the worker count of each pool."""
    pools: list[int] = []
    real_start = parallel._ProcessPool._start

    def start(self: parallel._ProcessPool) -> None:
        pools.append(self.n_workers)
        real_start(self)

    monkeypatch.setattr(parallel, "PROCESS_MIN_VALUES", 0)
    monkeypatch.setattr(Kernel, "parallel_by_processes", True)  # every type, memory-bound ones included
    monkeypatch.setattr(parallel._ProcessPool, "_start", start)
    return pools


def _no_workers_left() -> bool:
    return not multiprocessing.active_children()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@needs_fork
@pytest.mark.parametrize("qtype", registered_types(), ids=lambda t: t.name)
@pytest.mark.parametrize("threads", [2, 3])
def test_processes_give_the_single_call_bytes(qtype: GGMLType, threads: int, processes: list[int]) -> None:
    rows = _rows(13, seed=int(qtype))
    expected = kernel_for(qtype).quantize_rows(rows)
    got = quantize_parallel(rows, qtype, threads=threads)
    assert processes == [threads]
    assert got.dtype == np.uint8 and got.shape == expected.shape and got.flags.writeable
    assert got.tobytes() == expected.tobytes()
    assert _no_workers_left()


@needs_fork
def test_processes_read_a_memmap_and_the_imatrix(tmp_path: Path, processes: list[int]) -> None:
    rows = _rows(11, seed=3)
    path = tmp_path / "rows.f32"
    rows.tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="r", shape=rows.shape)
    imatrix = np.random.default_rng(6).uniform(0.0, 4.0, ROW).astype(np.float32)
    expected = kernel_for("Q4_K").quantize_rows(rows, imatrix=imatrix)
    assert quantize_parallel(mapped, "Q4_K", threads=2, imatrix=imatrix).tobytes() == expected.tobytes()
    assert processes == [2]


@needs_fork
@pytest.mark.parametrize(("qtype", "imatrix", "forks"), [
    ("Q8_0", False, False), ("F16", False, False), ("Q4_1", False, False), ("Q4_1", True, True),
    ("Q4_K", False, True), ("IQ4_NL", False, True),
])
def test_only_compute_bound_work_forks(
    qtype: str, imatrix: bool, forks: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory-bound kernels scale on threads and lose to fork costs; compute-bound ones need processes."""
    pools: list[int] = []
    real_start = parallel._ProcessPool._start

    def start(self: parallel._ProcessPool) -> None:
        pools.append(self.n_workers)
        real_start(self)

    monkeypatch.setattr(parallel._ProcessPool, "_start", start)
    monkeypatch.setattr(parallel, "PROCESS_MIN_VALUES", 0)
    rows = _rows(9, seed=5)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, ROW).astype(np.float32) if imatrix else None
    expected = kernel_for(qtype).quantize_rows(rows, imatrix=weights)
    assert quantize_parallel(rows, qtype, threads=2, imatrix=weights).tobytes() == expected.tobytes()
    assert bool(pools) == forks


@needs_fork
def test_small_tensors_and_one_thread_stay_in_process() -> None:
    pools: list[object] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel._ProcessPool, "run", lambda self, bounds: pools.append(bounds))
        quantize_parallel(_rows(13), "Q8_0", threads=2)  # far below PROCESS_MIN_VALUES
        mp.setattr(parallel, "PROCESS_MIN_VALUES", 0)
        quantize_parallel(_rows(13), "Q8_0", threads=1)
    assert pools == []


@needs_fork
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_process_error_names_the_tensor_and_keeps_the_hint(processes: list[int]) -> None:
    rows = _rows(13)
    rows[9, 7] = 1e6  # beyond the F16 range
    with pytest.raises(InvalidValuesError) as single:
        kernel_for("F16").quantize_rows(rows, name="blk.3.ffn_up.weight")
    fds = _open_fds()
    with pytest.raises(InvalidValuesError) as pooled:
        quantize_parallel(rows, "F16", threads=2, name="blk.3.ffn_up.weight")
    assert str(pooled.value) == str(single.value) and pooled.value.hint == single.value.hint
    assert "blk.3.ffn_up.weight" in pooled.value.message
    assert "Traceback" in str(pooled.value.__cause__)  # the worker's own traceback rides along
    assert processes and _no_workers_left() and _open_fds() == fds


def _failing_kernel(monkeypatch: pytest.MonkeyPatch, plan: dict[int, tuple[float, str]]) -> None:
    """F16 whose chunk starting at row r sleeps plan[r][0] seconds, then raises plan[r][1] if it is set."""
    real = kernel_for("F16").quantize_rows

    def quantize_rows(rows: np.ndarray, **kwargs: object) -> np.ndarray:
        first = int(round(float(rows[0, 0])))
        delay, message = plan.get(first, (0.0, ""))
        time.sleep(delay)
        if message:
            raise UsageError(message, "a hint")
        return real(rows, **kwargs)

    monkeypatch.setattr(kernel_for("F16"), "quantize_rows", quantize_rows)


def _numbered_rows(n_rows: int) -> np.ndarray:
    """Rows whose first value is the row number, so a spy kernel knows which chunk it got."""
    rows = np.zeros((n_rows, ROW), dtype=np.float32)
    rows[:, 0] = np.arange(n_rows)
    return rows


@needs_fork
def test_the_earliest_failing_chunk_is_reported(monkeypatch: pytest.MonkeyPatch, processes: list[int]) -> None:
    # Two rows per chunk. Chunk 0 fails late, chunk 2 fails at once: a single thread would report chunk 0.
    _failing_kernel(monkeypatch, {0: (0.3, "first chunk"), 4: (0.0, "third chunk")})
    with pytest.raises(UsageError, match="first chunk") as info:
        quantize_parallel(_numbered_rows(12), "F16", threads=2)
    assert info.value.hint == "a hint"
    assert _no_workers_left()


@needs_fork
def test_an_unpicklable_error_arrives_as_a_description(monkeypatch: pytest.MonkeyPatch, processes: list[int]) -> None:
    class Odd(Exception):
        def __reduce__(self) -> object:
            raise TypeError("cannot pickle this")

    def quantize_rows(rows: np.ndarray, **kwargs: object) -> np.ndarray:
        raise Odd("lost detail")

    monkeypatch.setattr(kernel_for("F16"), "quantize_rows", quantize_rows)
    with pytest.raises(RuntimeError, match="Odd: lost detail"):
        quantize_parallel(_rows(12), "F16", threads=2)
    assert _no_workers_left()


@needs_fork
@pytest.mark.parametrize("how", ["token", "return value"])
def test_cancel_stops_the_workers_at_once(how: str, monkeypatch: pytest.MonkeyPatch, processes: list[int]) -> None:
    # Chunk 0 takes 0.3 s, every other chunk 5 s: when chunk 0 is back, cancel fires with chunk 1 busy.
    _failing_kernel(monkeypatch, {0: (0.3, ""), **{r: (5.0, "") for r in range(2, 12, 2)}})
    token = CancelToken()
    calls = 0

    def cancel() -> bool:
        nonlocal calls
        calls += 1
        if calls > 2:  # the first two chunks went out; stop before the third
            token.cancel()
        if how == "token":
            token.check()
        return token.cancelled

    began = time.monotonic()
    with pytest.raises(CancelledError):
        quantize_parallel(_numbered_rows(12), "F16", threads=2, cancel=cancel, name="blk.1.attn_k.weight")
    assert time.monotonic() - began < 3.0  # the busy worker was stopped, not waited for
    assert calls == 3 and _no_workers_left()


@needs_fork
def test_a_dead_worker_leaves_its_chunks_to_the_caller(
    monkeypatch: pytest.MonkeyPatch, processes: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    real = kernel_for("F16").quantize_rows
    parent = os.getpid()

    def quantize_rows(rows: np.ndarray, **kwargs: object) -> np.ndarray:
        if os.getpid() != parent and int(rows[0, 0]) == 4:
            os._exit(3)  # a crash or the OOM killer, mid-chunk
        return real(rows, **kwargs)

    monkeypatch.setattr(kernel_for("F16"), "quantize_rows", quantize_rows)
    rows = _numbered_rows(12)
    got = quantize_parallel(rows, "F16", threads=2, name="blk.2.ffn_gate.weight")
    assert got.tobytes() == real(rows).tobytes()
    assert "stopped unexpectedly" in caplog.text and "blk.2.ffn_gate.weight" in caplog.text
    assert _no_workers_left()


def _mapping_of(address: int) -> str:
    """The path column of /proc/self/maps for the region holding ``address``."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            lo, hi = (int(v, 16) for v in fields[0].split("-"))
            if lo <= address < hi:
                return fields[5].strip() if len(fields) > 5 else ""
    raise AssertionError(f"{address:#x} is not mapped")


@needs_fork
def test_the_output_lives_in_anonymous_shared_memory(processes: list[int]) -> None:
    """Nothing named in /dev/shm: the mapping dies with its last user, even after a crash or kill -9."""
    before = {n for n in os.listdir("/dev/shm") if n.startswith("psm_")} if os.path.isdir("/dev/shm") else set()
    out = quantize_parallel(_rows(13), "Q6_K", threads=2)
    assert processes == [2]
    assert _mapping_of(out.ctypes.data) == "/dev/zero (deleted)"  # how Linux shows MAP_SHARED|MAP_ANONYMOUS
    after = {n for n in os.listdir("/dev/shm") if n.startswith("psm_")} if os.path.isdir("/dev/shm") else set()
    assert after <= before
