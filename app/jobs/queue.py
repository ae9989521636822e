"""The conversion queue: one conversion at a time in a worker thread, the others wait in the user's order.

All bookkeeping happens on the GUI thread; the worker only ever holds the one running job. Structural
changes are announced in about-to/done pairs so a list model can wrap them in begin/end calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from app.jobs.job import Job, JobFailure, JobList, JobState, JobStateError
from app.jobs.tasks import ConvertTask, JobOutcome, Task
from app.jobs.worker import JobWorker, WorkRequest
from engine.progress import Progress
from engine.quant.ftypes import FileType

log = logging.getLogger(__name__)


class JobQueue(QObject):
    """Orders, starts, cancels and forgets jobs (conversions and downloads), running one at a time.

    Signals:
        about_to_insert(int), inserted(int): a job is appended at this row.
        about_to_remove(int), removed(int): the job at this row leaves the list.
        about_to_move(int, int), moved(int, int): a job moves from the first row to the second.
        job_changed(int): the job with this id changed state or progress.
        job_ended(int): the job with this id reached a final state (done, failed, cancelled).
        busy_changed(bool): True while a conversion runs.
        idle(): nothing runs and nothing waits (emitted whenever that becomes true).
    """

    about_to_insert = Signal(int)
    inserted = Signal(int)
    about_to_remove = Signal(int)
    removed = Signal(int)
    about_to_move = Signal(int, int)
    moved = Signal(int, int)
    job_changed = Signal(int)
    job_ended = Signal(int)
    busy_changed = Signal(bool)
    idle = Signal()
    _request = Signal(object)

    def __init__(self, parent: QObject | None = None, *, threads: int | None = None, device: str = "auto",
                 client_factory: Callable[[], Any] | None = None) -> None:
        super().__init__(parent)
        self._jobs = JobList()
        self._threads = threads
        self._device = device
        self._accepting = True
        self._thread = QThread(self)
        self._thread.setObjectName("quantpick-jobs")
        self._worker = JobWorker(client_factory)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._request.connect(self._worker.run)
        self._worker.phase_changed.connect(self._on_worker_phase_changed)
        self._worker.planned.connect(self._on_worker_planned)
        self._worker.progressed.connect(self._on_worker_progressed)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.cancelled.connect(self._on_worker_cancelled)
        self._thread.start()

    # -- reading ------------------------------------------------------------------------------------

    @property
    def jobs(self) -> JobList:
        """The jobs in queue order; change them only through this queue."""
        return self._jobs

    def job(self, job_id: int) -> Job:
        return self._jobs.get(job_id)

    @property
    def is_busy(self) -> bool:
        """A conversion is running (or stopping)."""
        return self._jobs.active() is not None

    def has_unfinished(self) -> bool:
        """Something runs or waits: closing now would lose work."""
        return bool(self._jobs.unfinished())

    # -- changing -----------------------------------------------------------------------------------

    def set_threads(self, threads: int | None) -> None:
        """Quantizer threads for jobs started from now on (None: every core)."""
        self._threads = threads

    def set_device(self, device: str) -> None:
        """Where jobs started from now on quantize: "auto", "cpu" or "gpu"."""
        self._device = device

    def add(self, source: Path, ftype: FileType, out_dir: Path) -> Job:
        """Queue converting ``source`` to ``ftype``; it starts when the jobs before it are finished."""
        return self.add_task(ConvertTask(Path(source), ftype, Path(out_dir)))

    def add_task(self, task: Task) -> Job:
        """Queue any task; it starts when the jobs before it are finished."""
        if not self._accepting:
            raise RuntimeError("the queue is shut down")
        job = Job(task)
        row = len(self._jobs)
        self.about_to_insert.emit(row)
        self._jobs.append(job)
        self.inserted.emit(row)
        log.info("Queued %s.", job.title)
        self._start_next()
        return job

    def cancel(self, job_id: int) -> None:
        """Stop a job: a waiting one at once, a running one at its next chunk."""
        job = self._jobs.get(job_id)
        was_waiting = job.state is JobState.WAITING
        if job.request_cancel():
            log.info("Cancelling %s.", job.title)
            self.job_changed.emit(job_id)
            if was_waiting:
                self.job_ended.emit(job_id)
                self._check_idle()

    def cancel_all(self) -> None:
        """Cancel every job that has not finished, the running one included."""
        for job in self._jobs.unfinished():
            self.cancel(job.id)

    def remove(self, job_id: int) -> None:
        """Forget a job that is not running; a waiting one never starts.

        Raises:
            JobStateError: the job is running; cancel it first.
        """
        row = self._jobs.row_of(job_id)
        if not self._jobs.can_remove(job_id):
            raise JobStateError(f"job {job_id} is running; cancel it before removing it")
        self.about_to_remove.emit(row)
        job = self._jobs.remove(job_id)
        job.cancel_token.cancel()
        self.removed.emit(row)
        self._check_idle()

    def move(self, job_id: int, new_row: int) -> bool:
        """Move a job that is not running to ``new_row``; False if that is not possible."""
        if not self._jobs.can_move(job_id, new_row):
            return False
        old_row = self._jobs.row_of(job_id)
        self.about_to_move.emit(old_row, new_row)
        self._jobs.move(job_id, new_row)
        self.moved.emit(old_row, new_row)
        return True

    def shutdown(self, *, wait_ms: int = 30_000) -> bool:
        """Cancel everything, stop the worker thread and wait for it; True if it stopped in time.

        Call it when nothing is running (see ``idle``) to return at once; with a job running it waits
        for the engine's next cancellation check.
        """
        self._accepting = False
        self.cancel_all()
        if not self._thread.isRunning():
            return True
        self._thread.quit()
        stopped = bool(self._thread.wait(wait_ms))
        if not stopped:
            log.error("The conversion thread did not stop within %d ms.", wait_ms)
        return stopped

    # -- running ------------------------------------------------------------------------------------

    def _start_next(self) -> None:
        if not self._accepting or self._jobs.active() is not None:
            return
        job = self._jobs.next_waiting()
        if job is None:
            return
        job.move_to(JobState.RUNNING)
        self.job_changed.emit(job.id)
        self.busy_changed.emit(True)
        self._request.emit(WorkRequest(job.id, job.task, job.cancel_token, self._threads, self._device))

    def _find(self, job_id: int) -> Job | None:
        try:
            return self._jobs.get(job_id)
        except KeyError:  # removed meanwhile
            return None

    def _on_worker_phase_changed(self, job_id: int, phase: str) -> None:
        job = self._find(job_id)
        if job is not None:
            job.phase = phase
            job.progress = None  # a new phase counts from zero
            self.job_changed.emit(job_id)

    def _on_worker_planned(self, job_id: int, output: Path) -> None:
        job = self._find(job_id)
        if job is not None:
            job.output = output
            self.job_changed.emit(job_id)

    def _on_worker_progressed(self, job_id: int, progress: Progress) -> None:
        job = self._find(job_id)
        if job is not None and job.state.is_active:
            job.progress = progress
            self.job_changed.emit(job_id)

    def _on_worker_finished(self, job_id: int, result: JobOutcome) -> None:
        self._end(job_id, JobState.DONE, result=result)

    def _on_worker_failed(self, job_id: int, failure: JobFailure) -> None:
        self._end(job_id, JobState.FAILED, failure=failure)

    def _on_worker_cancelled(self, job_id: int) -> None:
        self._end(job_id, JobState.CANCELLED)

    def _end(self, job_id: int, state: JobState, *, result: JobOutcome | None = None,
             failure: JobFailure | None = None) -> None:
        job = self._find(job_id)
        if job is not None and job.state.is_active:
            job.result, job.failure = result, failure
            if result is not None:
                job.output = result.output
            job.move_to(state)
            self.job_changed.emit(job_id)
            self.job_ended.emit(job_id)
        self.busy_changed.emit(False)
        self._start_next()
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._jobs.unfinished():
            self.idle.emit()
