"""The conversion worker: a QObject that lives in a worker QThread and runs the engine there.

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

from PySide6.QtCore import QObject, Signal, Slot

from app.jobs.job import JobFailure
from engine.convert.open_source import open_source
from engine.convert.plan import make_plan
from engine.convert.run import ConversionResult, execute
from engine.errors import CancelledError, QuantpickError, UsageError
from engine.progress import CancelToken, Progress
from engine.quant.ftypes import FileType

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class ConversionRequest:
    """Everything the worker needs for one job; built on the GUI thread, read on the worker's.

    Attributes:
        job_id: The job this request belongs to.
        source: Checkpoint path.
        ftype: Target file type.
        out_dir: Output folder, created if missing.
        cancel: The job's token; the GUI thread sets it, the engine checks it between chunks.
        threads: Quantizer threads (None: every CPU).
    """

    job_id: int
    source: Path
    ftype: FileType
    out_dir: Path
    cancel: CancelToken
    threads: int | None = None


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


class ConversionWorker(QObject):
    """Runs conversions one after another in its thread: open the source, plan, execute.

    Signals:
        planned(int, object): job id and the output Path, once the plan exists.
        progressed(int, object): job id and a Progress snapshot (throttled).
        finished(int, object): job id and the ConversionResult.
        failed(int, object): job id and a JobFailure.
        cancelled(int): job id; nothing was left on disk.
    """

    planned = Signal(int, object)
    progressed = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int)

    @Slot(object)
    def run(self, request: ConversionRequest) -> None:
        """Convert one request; every outcome, including bugs, ends in exactly one signal."""
        job_id = request.job_id
        try:
            result = self._convert(request)
        except CancelledError:
            log.info("Conversion of %s cancelled; nothing was written.", request.source.name)
            self.cancelled.emit(job_id)
        except QuantpickError as e:
            log.warning("Conversion of %s failed: %s", request.source.name, e)
            self.failed.emit(job_id, JobFailure.from_exception(e))
        except Exception as e:  # noqa: BLE001 - a worker must never die silently
            log.exception("Conversion of %s failed unexpectedly", request.source.name)
            self.failed.emit(job_id, JobFailure.from_exception(e))
        else:
            log.info("Wrote %s (%d bytes) in %.1f s.", result.output, result.bytes_written, result.seconds)
            self.finished.emit(job_id, result)

    def _convert(self, request: ConversionRequest) -> ConversionResult:
        request.cancel.check()
        log.info("Converting %s to %s in %s.", request.source, request.ftype.name, request.out_dir)
        _make_folder(request.out_dir)
        with open_source(request.source, request.ftype) as source:
            request.cancel.check()
            plan = make_plan(source, request.ftype, out_dir=request.out_dir)
            _refuse_overwrite([part.path for part in plan.parts])
            self.planned.emit(request.job_id, plan.output)
            report = _Throttle(lambda p: self.progressed.emit(request.job_id, p))
            return execute(plan, source, threads=request.threads, progress=report, cancel=request.cancel)


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
