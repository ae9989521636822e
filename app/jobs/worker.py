"""The job worker: a QObject that lives in a worker QThread and runs the engine there.

It speaks only through signals, which Qt queues to the GUI thread. Progress from the engine arrives once
per chunk, which can be hundreds of times a second for small tensors; the worker forwards at most one
report per ``PROGRESS_INTERVAL_S`` (and always the last), so the GUI thread never drowns in repaints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.jobs.job import JobFailure
from app.jobs.tasks import ConvertTask, DownloadTask, JobOutcome, Task
from engine.convert.open_source import open_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.errors import CancelledError, QuantpickError, UsageError
from engine.progress import CancelToken, Progress
from engine.quant.ftypes import FileType
from engine.quant.device import choose_device

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class WorkRequest:
    """Everything the worker needs for one job; built on the GUI thread, read on the worker's.

    Attributes:
        job_id: The job this request belongs to.
        task: What to do.
        cancel: The job's token; the GUI thread sets it, the engine checks it between chunks.
        threads: Quantizer threads (None: every CPU).
        device: "auto", "cpu" or "gpu" (engine.quant.device.choose_device).
    """

    job_id: int
    task: Task
    cancel: CancelToken
    threads: int | None = None
    device: str = "auto"


class _Throttle:
    """Passes a progress report on when enough time has passed since the last one, or when it is the last."""

    def __init__(self, forward: Callable[[Progress], None], interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self._forward = forward
        self._interval = interval_s
        self._last = float("-inf")

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval or progress.done >= progress.total:
            self._last = now
            self._forward(progress)


class JobWorker(QObject):
    """Runs jobs one after another in its thread.

    Signals:
        phase_changed(int, str): job id and what it does now ("Converting", "Downloading").
        planned(int, object): job id and the output Path, once known.
        progressed(int, object): job id and a Progress snapshot of the current phase (throttled).
        finished(int, object): job id and the JobOutcome.
        failed(int, object): job id and a JobFailure.
        cancelled(int): job id; nothing was left on disk.

    Args:
        client_factory: Makes the Hub client for downloads; called on this worker's thread, on first use,
            because creating one reads the token store.
    """

    phase_changed = Signal(int, str)
    planned = Signal(int, object)
    progressed = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int)

    def __init__(self, client_factory: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self._client_factory = client_factory
        self._client: Any | None = None

    @Slot(object)
    def run(self, request: WorkRequest) -> None:
        """Do one job; every outcome, including bugs, ends in exactly one signal."""
        job_id, title = request.job_id, request.task.title
        try:
            request.cancel.check()
            outcome = self._dispatch(request, time.monotonic())
        except CancelledError:
            log.info("%s: cancelled; nothing was written.", title)
            self.cancelled.emit(job_id)
        except QuantpickError as e:
            log.warning("%s: failed. %s", title, e)
            self.failed.emit(job_id, JobFailure.from_exception(e))
        except Exception as e:  # noqa: BLE001 - a worker must never die silently
            log.exception("%s: failed unexpectedly", title)
            self.failed.emit(job_id, JobFailure.from_exception(e))
        else:
            log.info("%s: done, %s (%d bytes) in %.1f s.", title, outcome.output, outcome.nbytes, outcome.seconds)
            self.finished.emit(job_id, outcome)

    def _dispatch(self, request: WorkRequest, started: float) -> JobOutcome:
        task = request.task
        if isinstance(task, ConvertTask):
            return self._convert(request, task.source, task.ftype, task.out_dir, started)
        if isinstance(task, DownloadTask):
            self.phase_changed.emit(request.job_id, "Downloading")
            result = self._hub().download_quant(task.repo_id, task.variant, on_progress=self._reporter(request),
                                                cancel=request.cancel)
            return JobOutcome(result.main_path, result.total_bytes, time.monotonic() - started, downloaded=True)
        self.phase_changed.emit(request.job_id, "Downloading")
        source = self._hub().download_source(task.repo_id, on_progress=self._reporter(request),
                                             cancel=request.cancel)
        return self._convert(request, source.snapshot_dir, task.ftype, task.out_dir, started)

    def _convert(self, request: WorkRequest, source_path: Path, ftype: FileType, out_dir: Path,
                 started: float) -> JobOutcome:
        self.phase_changed.emit(request.job_id, "Converting")
        log.info("Converting %s to %s in %s.", source_path, ftype.name, out_dir)
        _make_folder(out_dir)
        with open_source(source_path, ftype) as source:
            request.cancel.check()
            plan = make_plan(source, ftype, out_dir=out_dir)
            _refuse_overwrite([part.path for part in plan.parts])
            self.planned.emit(request.job_id, plan.output)
            device = choose_device(request.device)
            result = execute(plan, source, threads=request.threads, progress=self._reporter(request),
                             cancel=request.cancel, device=device)
        return JobOutcome(result.output, result.bytes_written, time.monotonic() - started)

    def _reporter(self, request: WorkRequest) -> _Throttle:
        return _Throttle(lambda p: self.progressed.emit(request.job_id, p))

    def _hub(self) -> Any:
        if self._client is None:
            if self._client_factory is None:
                from engine.hub import HubClient

                self._client_factory = HubClient
            self._client = self._client_factory()
        return self._client


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(
            f"The output folder {folder} cannot be created ({e.strerror or e}).",
            "Choose another output folder.",
        ) from e


def _refuse_overwrite(paths: list[Path]) -> None:
    """A finished file is never replaced silently: it may be the only copy of an earlier conversion."""
    existing = [p for p in paths if p.exists()]
    if existing:
        raise UsageError(
            f"{existing[0].name} already exists in {existing[0].parent}.",
            "Move or delete it, or choose another output folder, then convert again.",
        )
