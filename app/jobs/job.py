"""A conversion job as plain data: what to convert, where it stands, and how it ended. No Qt here.

The queue (``app.jobs.queue``) drives the transitions and the list model shows them; both stay thin
because the rules live here: which transitions are legal, which jobs may be moved or removed, and how
progress reads to a person (rate, time left, the command that runs the result).
"""

from __future__ import annotations

import itertools
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from app.jobs.tasks import JobOutcome, Task
from engine.errors import QuantpickError
from engine.progress import CancelToken, Progress


class JobState(Enum):
    """Where a job stands; the last three are final."""

    WAITING = "waiting"
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def is_active(self) -> bool:
        """Running, or stopping: the worker still owns the job."""
        return self in (JobState.RUNNING, JobState.CANCELLING)


_FINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.WAITING: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.CANCELLING, JobState.DONE, JobState.FAILED, JobState.CANCELLED}),
    JobState.CANCELLING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}

_STATE_WORDS = {
    JobState.WAITING: "Waiting",
    JobState.RUNNING: "Running",
    JobState.CANCELLING: "Stopping...",
    JobState.DONE: "Done",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}

_ids = itertools.count(1)


class JobStateError(RuntimeError):
    """A transition the job rules forbid: a bug in the caller, never shown to users as such."""


@dataclass(frozen=True, slots=True)
class JobFailure:
    """Why a job failed, in the engine's words: what happened, what to do, and the technical details."""

    message: str
    hint: str
    details: str = ""

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    @classmethod
    def from_exception(cls, error: BaseException) -> JobFailure:
        """The engine's own wording for its errors; anything else is a bug and says so."""
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if isinstance(error, QuantpickError):
            return cls(error.message, error.hint, details)
        return cls(
            f"The conversion stopped on an unexpected error ({type(error).__name__}: {error}).",
            "This is a bug in Quantpick; please report it with the details.",
            details,
        )


@dataclass(slots=True, eq=False)
class Job:
    """One piece of queued work: a conversion, a download, or a download followed by a conversion.

    Attributes:
        task: What to do.
        id: Unique for the session; the model and the worker refer to jobs by it.
        state: Where the job stands.
        phase: What a running job is doing now ("Converting", "Downloading").
        progress: The latest progress snapshot of the current phase, None before the first one.
        output: The output path once known.
        result: What the finished job left behind (DONE only).
        failure: Why it failed (FAILED only).
        cancel_token: Set to stop the job; the worker checks it between chunks.
        created/started/finished: ``time.monotonic()`` stamps; None until reached.
    """

    task: Task
    id: int = field(default_factory=lambda: next(_ids))
    state: JobState = JobState.WAITING
    phase: str = ""
    progress: Progress | None = None
    output: Path | None = None
    result: JobOutcome | None = None
    failure: JobFailure | None = None
    cancel_token: CancelToken = field(default_factory=CancelToken)
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    @property
    def title(self) -> str:
        """``model-folder -> Q4_K_M``: what a person calls this job."""
        return self.task.title

    @property
    def state_text(self) -> str:
        if self.state is JobState.RUNNING and self.phase:
            return self.phase
        return _STATE_WORDS[self.state]

    @property
    def fraction(self) -> float:
        """0..1; 1 when done, 0 before the first progress report."""
        if self.state is JobState.DONE:
            return 1.0
        return self.progress.fraction if self.progress is not None else 0.0

    @property
    def elapsed_s(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished if self.finished is not None else time.monotonic()) - self.started

    def move_to(self, new: JobState) -> None:
        """Change state, enforcing the legal transitions and stamping the times."""
        if new not in _ALLOWED[self.state]:
            raise JobStateError(f"job {self.id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new
        if new is JobState.RUNNING:
            self.started = time.monotonic()
        if new.is_final:
            self.finished = time.monotonic()

    def request_cancel(self) -> bool:
        """Ask the job to stop; True if that changed anything.

        A waiting job is cancelled at once; a running one is told through its token and becomes
        CANCELLING until the worker confirms.
        """
        if self.state is JobState.WAITING:
            self.cancel_token.cancel()
            self.move_to(JobState.CANCELLED)
            return True
        if self.state is JobState.RUNNING:
            self.cancel_token.cancel()
            self.move_to(JobState.CANCELLING)
            return True
        return False

    def detail_text(self) -> str:
        """The second line of the job's row: progress figures, the output, or the reason it stopped."""
        if self.state is JobState.WAITING:
            return f"Waiting for the jobs before it. {self.task.destination}"
        if self.state.is_active:
            return progress_text(self.progress)
        if self.state is JobState.DONE and self.result is not None:
            took = fmt_duration(self.result.seconds)
            verb = "downloaded" if self.result.downloaded else "written"
            return f"{fmt_size(self.result.nbytes)} {verb} in {took}: {self.result.output}"
        if self.state is JobState.FAILED and self.failure is not None:
            return str(self.failure)
        return "Stopped; nothing was written."

    def server_command(self) -> str | None:
        """The command that serves the finished file with llama.cpp, ready to paste; None until done.

        With the recommendation's options when the job came from one; otherwise the path alone is enough,
        since llama-server fits the layers to the available memory by itself (``--fit`` is on by default).
        """
        if self.state is not JobState.DONE or self.result is None:
            return None
        return command_line(["llama-server", "-m", str(self.result.output), *self.task.server_args])


def command_line(args: list[str]) -> str:
    """Quote ``args`` for the shell of this platform."""
    if sys.platform.startswith("win"):
        return subprocess.list2cmdline(args)
    return shlex.join(args)


def fmt_size(n: float) -> str:
    """Bytes in binary units, one decimal from MiB up."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def fmt_duration(seconds: float) -> str:
    """``8 s``, ``2 min 05 s``, ``1 h 03 min``: as precise as a person needs."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress_text(progress: Progress | None) -> str:
    """``45% - 1.2 GiB of 2.7 GiB - 85.3 MiB/s - about 18 s left - blk.3.ffn_up.weight``."""
    if progress is None:
        return "Starting..."
    parts = [f"{progress.fraction * 100:.0f}%", f"{fmt_size(progress.done)} of {fmt_size(progress.total)}"]
    if progress.rate > 0:
        parts.append(f"{fmt_size(progress.rate)}/s")
    if progress.eta_s is not None:
        parts.append(f"about {fmt_duration(progress.eta_s)} left")
    if progress.current:
        parts.append(progress.current)
    return " \u2013 ".join(parts)


class JobList:
    """The ordered jobs of a session and the rules for reordering and removing them.

    Running jobs stay where they are; waiting and finished jobs can be moved; only jobs the worker does
    not own can be removed.
    """

    def __init__(self) -> None:
        self._jobs: list[Job] = []

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs))

    def __getitem__(self, row: int) -> Job:
        return self._jobs[row]

    def append(self, job: Job) -> int:
        """Add ``job`` at the end; returns its row."""
        self._jobs.append(job)
        return len(self._jobs) - 1

    def row_of(self, job_id: int) -> int:
        for row, job in enumerate(self._jobs):
            if job.id == job_id:
                return row
        raise KeyError(job_id)

    def get(self, job_id: int) -> Job:
        return self._jobs[self.row_of(job_id)]

    def can_remove(self, job_id: int) -> bool:
        return not self.get(job_id).state.is_active

    def remove(self, job_id: int) -> Job:
        """Take a job out of the list.

        Raises:
            JobStateError: the job is running (cancel it first).
        """
        row = self.row_of(job_id)
        job = self._jobs[row]
        if job.state.is_active:
            raise JobStateError(f"job {job_id} is {job.state.value}; cancel it before removing it")
        del self._jobs[row]
        return job

    def can_move(self, job_id: int, new_row: int) -> bool:
        row = self.row_of(job_id)
        return 0 <= new_row < len(self._jobs) and new_row != row and not self._jobs[row].state.is_active

    def move(self, job_id: int, new_row: int) -> int:
        """Move a job that is not running to ``new_row`` (clamped to the list); returns the old row.

        Raises:
            JobStateError: the job is running.
        """
        row = self.row_of(job_id)
        job = self._jobs[row]
        if job.state.is_active:
            raise JobStateError(f"job {job_id} is {job.state.value} and cannot be moved")
        del self._jobs[row]
        self._jobs.insert(max(0, min(new_row, len(self._jobs))), job)
        return row

    def next_waiting(self) -> Job | None:
        """The first waiting job in list order: the order the user arranged is the order they run."""
        return next((job for job in self._jobs if job.state is JobState.WAITING), None)

    def active(self) -> Job | None:
        return next((job for job in self._jobs if job.state.is_active), None)

    def unfinished(self) -> list[Job]:
        return [job for job in self._jobs if not job.state.is_final]


class JobAction(Enum):
    """What a person can do with a job; the row shows the buttons ``row_actions`` picks."""

    CANCEL = "Cancel"
    REMOVE = "Remove"
    SHOW_FOLDER = "Show in folder"
    COPY_COMMAND = "Copy command"
    MOVE_UP = "Move up"
    MOVE_DOWN = "Move down"


_ROW_ACTIONS: dict[JobState, tuple[JobAction, ...]] = {
    JobState.WAITING: (JobAction.CANCEL,),
    JobState.RUNNING: (JobAction.CANCEL,),
    JobState.CANCELLING: (),
    JobState.DONE: (JobAction.SHOW_FOLDER, JobAction.COPY_COMMAND, JobAction.REMOVE),
    JobState.FAILED: (JobAction.REMOVE,),
    JobState.CANCELLED: (JobAction.REMOVE,),
}


def row_actions(job: Job) -> tuple[JobAction, ...]:
    """The buttons a job's row offers, left to right."""
    return _ROW_ACTIONS[job.state]


def allowed_actions(jobs: JobList, job_id: int) -> frozenset[JobAction]:
    """Every action that applies to the job now, the row's buttons plus moving it."""
    job = jobs.get(job_id)
    row = jobs.row_of(job_id)
    allowed = set(row_actions(job))
    if jobs.can_move(job_id, row - 1):
        allowed.add(JobAction.MOVE_UP)
    if jobs.can_move(job_id, row + 1):
        allowed.add(JobAction.MOVE_DOWN)
    return frozenset(allowed)
