"""The job queue against the real engine: one job at a time, in the user's order, cancellable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.jobs.job import JobState, JobStateError
from app.jobs.queue import JobQueue
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import read_gguf
from engine.quant.ftypes import parse_file_type
from tests.unit.app.jobs.conftest import TINY

pytestmark = pytest.mark.gui

Q4 = parse_file_type("Q4_K_M")
Q8 = parse_file_type("Q8_0")


def wait_final(qtbot, queue: JobQueue, *job_ids: int, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: all(queue.job(i).state.is_final for i in job_ids), timeout=timeout)


def test_conversion_finishes_and_reads_back(qtbot, queue: JobQueue, tmp_path: Path) -> None:
    ended: list[int] = []
    queue.job_ended.connect(ended.append)
    with qtbot.waitSignal(queue.idle, timeout=60_000):
        job = queue.add(TINY, Q4, tmp_path / "new" / "folder")
        assert job.state is JobState.RUNNING and queue.is_busy
    assert job.state is JobState.DONE, job.failure
    assert ended == [job.id]
    assert job.output is not None and job.output.parent == tmp_path / "new" / "folder"
    written = read_gguf(job.output)
    assert written.get("general.file_type") == Q4.llama_ftype
    assert GGMLType.Q4_K in {t.qtype for t in written.tensors}
    assert job.progress is not None and job.progress.done == job.progress.total
    assert not queue.is_busy and not queue.has_unfinished()


def test_one_at_a_time_in_the_order_the_user_arranged(qtbot, queue: JobQueue, tmp_path: Path) -> None:
    started: list[int] = []
    queue.job_changed.connect(
        lambda i: started.append(i) if queue.job(i).state is JobState.RUNNING and i not in started else None
    )
    a = queue.add(TINY, Q4, tmp_path / "a")
    b = queue.add(TINY, Q8, tmp_path / "b")
    c = queue.add(TINY, Q8, tmp_path / "c")
    assert [j.state for j in (a, b, c)] == [JobState.RUNNING, JobState.WAITING, JobState.WAITING]
    assert not queue.move(a.id, 2)  # the running job stays put
    assert queue.move(c.id, 1)
    assert [j.id for j in queue.jobs] == [a.id, c.id, b.id]
    wait_final(qtbot, queue, a.id, b.id, c.id)
    assert started == [a.id, c.id, b.id]
    assert all(j.state is JobState.DONE for j in (a, b, c))


def test_remove_waiting_and_finished_but_not_running(qtbot, queue: JobQueue, tmp_path: Path) -> None:
    a = queue.add(TINY, Q4, tmp_path / "a")
    b = queue.add(TINY, Q4, tmp_path / "b")
    with pytest.raises(JobStateError):
        queue.remove(a.id)
    queue.remove(b.id)
    assert [j.id for j in queue.jobs] == [a.id]
    wait_final(qtbot, queue, a.id)
    queue.remove(a.id)
    assert len(queue.jobs) == 0
    assert not (tmp_path / "b").exists()  # the removed job never started


def test_cancel_waiting_job_never_runs(qtbot, queue: JobQueue, tmp_path: Path) -> None:
    a = queue.add(TINY, Q4, tmp_path / "a")
    b = queue.add(TINY, Q4, tmp_path / "b")
    queue.cancel(b.id)
    assert b.state is JobState.CANCELLED
    wait_final(qtbot, queue, a.id)
    assert a.state is JobState.DONE and not (tmp_path / "b").exists()


def test_cancel_mid_way_leaves_nothing(qtbot, queue: JobQueue, tmp_path: Path, big_gguf: Path) -> None:
    job = queue.add(big_gguf, Q4, tmp_path)
    qtbot.waitUntil(lambda: job.fraction > 0.05, timeout=60_000)
    queue.cancel(job.id)
    assert job.state is JobState.CANCELLING
    wait_final(qtbot, queue, job.id)
    assert job.state is JobState.CANCELLED
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .partial


def test_failures_carry_the_engine_explanation(qtbot, queue: JobQueue, tmp_path: Path) -> None:
    pickled = tmp_path / "pytorch_model.bin"
    pickled.write_bytes(b"\x80\x02}q\x00.")
    bad = queue.add(pickled, Q4, tmp_path / "out")
    wait_final(qtbot, queue, bad.id)
    assert bad.state is JobState.FAILED and bad.failure is not None
    assert "pickled PyTorch checkpoint" in bad.failure.message
    assert "safetensors" in bad.failure.hint


def test_existing_output_is_never_overwritten(qtbot, queue: JobQueue, tmp_path: Path) -> None:
    first = queue.add(TINY, Q8, tmp_path)
    wait_final(qtbot, queue, first.id)
    assert first.output is not None
    before = first.output.read_bytes()
    again = queue.add(TINY, Q8, tmp_path)
    wait_final(qtbot, queue, again.id)
    assert again.state is JobState.FAILED and again.failure is not None
    assert "already exists" in again.failure.message
    assert first.output.read_bytes() == before


def test_shutdown_during_a_job_cancels_cleanly(qtbot, tmp_path: Path, big_gguf: Path) -> None:
    queue = JobQueue()
    job = queue.add(big_gguf, Q4, tmp_path)
    waiting = queue.add(big_gguf, Q8, tmp_path)
    qtbot.waitUntil(lambda: job.fraction > 0.05, timeout=60_000)
    assert queue.shutdown(wait_ms=60_000)
    assert waiting.state is JobState.CANCELLED
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        queue.add(TINY, Q4, tmp_path)
