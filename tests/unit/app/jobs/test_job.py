"""Job rules without Qt: transitions, ordering, removal, and the words a row shows."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from app.jobs.job import (
    Job, JobAction, JobFailure, JobList, JobState, JobStateError, allowed_actions, fmt_duration, fmt_size,
    progress_text, row_actions,
)
from app.jobs.tasks import ConvertTask, JobOutcome, server_args_from
from engine.errors import CancelledError, PickledCheckpointError
from engine.progress import Progress
from engine.quant.ftypes import parse_file_type

Q4 = parse_file_type("Q4_K_M")


def make_job(name: str = "model.gguf") -> Job:
    return Job(ConvertTask(Path("/models") / name, Q4, Path("/out")))


def test_ids_are_unique_and_title_names_source_and_type() -> None:
    a, b = make_job("a.gguf"), make_job("b.gguf")
    assert a.id != b.id
    assert a.title == "a.gguf \u2192 Q4_K_M"


def test_legal_path_stamps_times() -> None:
    job = make_job()
    job.move_to(JobState.RUNNING)
    assert job.started is not None and job.finished is None
    job.move_to(JobState.DONE)
    assert job.finished is not None and job.fraction == 1.0


@pytest.mark.parametrize("path", [
    [JobState.DONE], [JobState.CANCELLING], [JobState.RUNNING, JobState.DONE, JobState.RUNNING],
    [JobState.RUNNING, JobState.CANCELLED, JobState.FAILED],
])
def test_illegal_transitions_raise(path: list[JobState]) -> None:
    job = make_job()
    with pytest.raises(JobStateError):
        for state in path:
            job.move_to(state)


def test_cancel_waiting_is_immediate_and_running_goes_through_cancelling() -> None:
    waiting = make_job()
    assert waiting.request_cancel()
    assert waiting.state is JobState.CANCELLED and waiting.cancel_token.cancelled
    running = make_job()
    running.move_to(JobState.RUNNING)
    assert running.request_cancel()
    assert running.state is JobState.CANCELLING and running.cancel_token.cancelled
    assert not running.request_cancel()
    running.move_to(JobState.CANCELLED)
    assert not running.request_cancel()


def test_server_command_only_when_done_and_quoted(tmp_path: Path) -> None:
    job = make_job()
    assert job.server_command() is None
    out = tmp_path / "my models" / "x-Q4_K_M.gguf"
    job.move_to(JobState.RUNNING)
    job.result = JobOutcome(out, 1000, 0.5)
    job.move_to(JobState.DONE)
    command = job.server_command()
    assert command is not None
    assert shlex.split(command) == ["llama-server", "-m", str(out)]


def test_detail_text_follows_the_state() -> None:
    job = make_job()
    assert "Waiting" in job.detail_text()
    job.move_to(JobState.RUNNING)
    assert job.detail_text() == "Starting..."
    assert job.state_text == "Running"
    job.phase = "Converting"
    assert job.state_text == "Converting"
    job.progress = Progress(512 << 20, 1 << 30, "blk.0.ffn_up.weight", float(64 << 20), 8.0)
    text = job.detail_text()
    assert text.startswith("50%") and "512.0 MiB of 1.0 GiB" in text and "64.0 MiB/s" in text
    assert "about 8 s left" in text and "blk.0.ffn_up.weight" in text
    job.failure = JobFailure("It broke.", "Do this.")
    job.move_to(JobState.FAILED)
    assert job.detail_text() == "It broke. Do this."


def test_failure_keeps_engine_words_and_flags_bugs() -> None:
    try:
        raise PickledCheckpointError("x.bin is pickled.", "Use safetensors.")
    except PickledCheckpointError as e:
        failure = JobFailure.from_exception(e)
    assert (failure.message, failure.hint) == ("x.bin is pickled.", "Use safetensors.")
    assert "Traceback" in failure.details
    bug = JobFailure.from_exception(ZeroDivisionError("division by zero"))
    assert "ZeroDivisionError" in bug.message and "bug" in bug.hint
    assert str(JobFailure.from_exception(CancelledError("stop"))).startswith("stop")


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (59.4, "59 s"), (125, "2 min 05 s"),
                                               (3780, "1 h 03 min")])
def test_durations(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_sizes_and_missing_progress() -> None:
    assert fmt_size(512) == "512 B"
    assert fmt_size(1536) == "1.5 KiB"
    assert fmt_size(3 << 30) == "3.0 GiB"
    assert progress_text(None) == "Starting..."
    assert "left" not in progress_text(Progress(0, 10, "", 0.0, None))


def test_list_moves_and_removes_only_idle_jobs() -> None:
    jobs = JobList()
    a, b, c = make_job("a"), make_job("b"), make_job("c")
    for job in (a, b, c):
        jobs.append(job)
    a.move_to(JobState.RUNNING)
    assert not jobs.can_move(a.id, 2)
    with pytest.raises(JobStateError):
        jobs.move(a.id, 2)
    with pytest.raises(JobStateError):
        jobs.remove(a.id)
    assert jobs.next_waiting() is b
    assert jobs.move(c.id, 1) == 2
    assert [j.id for j in jobs] == [a.id, c.id, b.id]
    assert jobs.next_waiting() is c  # the user's order is the running order
    assert not jobs.can_move(c.id, 1) and not jobs.can_move(c.id, 3)
    jobs.remove(c.id)
    assert [j.id for j in jobs] == [a.id, b.id]
    assert jobs.active() is a and jobs.unfinished() == [a, b]
    with pytest.raises(KeyError):
        jobs.row_of(c.id)


def test_actions_follow_state_and_position() -> None:
    jobs = JobList()
    a, b, c = make_job("a"), make_job("b"), make_job("c")
    for job in (a, b, c):
        jobs.append(job)
    a.move_to(JobState.RUNNING)
    assert allowed_actions(jobs, a.id) == {JobAction.CANCEL}
    assert allowed_actions(jobs, b.id) == {JobAction.CANCEL, JobAction.MOVE_UP, JobAction.MOVE_DOWN}
    assert allowed_actions(jobs, c.id) == {JobAction.CANCEL, JobAction.MOVE_UP}
    a.request_cancel()
    assert allowed_actions(jobs, a.id) == frozenset()
    a.move_to(JobState.CANCELLED)
    assert row_actions(a) == (JobAction.REMOVE,)
    b.move_to(JobState.RUNNING)
    b.move_to(JobState.DONE)
    assert row_actions(b) == (JobAction.SHOW_FOLDER, JobAction.COPY_COMMAND, JobAction.REMOVE)


def test_done_text_says_written_or_downloaded(tmp_path: Path) -> None:
    job = make_job()
    job.move_to(JobState.RUNNING)
    job.result = JobOutcome(tmp_path / "x.gguf", 3 << 20, 65.0, downloaded=True)
    job.move_to(JobState.DONE)
    assert job.detail_text() == f"3.0 MiB downloaded in 1 min 05 s: {tmp_path / 'x.gguf'}"


@pytest.mark.parametrize(("command", "args"), [
    ("llama-server -m Qwen3-8B-Q6_K.gguf -c 8192 -ngl 37 -fa on -np 1", ("-c", "8192", "-ngl", "37", "-fa", "on",
                                                                         "-np", "1")),
    ("llama-server --model=x.gguf -c 4096", ("-c", "4096")),
    ("ollama run x", ()), ("", ()), ("llama-server -m 'unterminated", ()),
])
def test_server_args_keep_the_recommendations_options(command: str, args: tuple[str, ...]) -> None:
    assert server_args_from(command) == args


def test_finished_job_command_carries_the_options(tmp_path: Path) -> None:
    job = Job(ConvertTask(Path("/m"), Q4, tmp_path, ("-c", "8192", "-ngl", "37")))
    job.move_to(JobState.RUNNING)
    job.result = JobOutcome(tmp_path / "m-Q4_K_M.gguf", 1, 1.0)
    job.move_to(JobState.DONE)
    assert shlex.split(job.server_command() or "") == [
        "llama-server", "-m", str(tmp_path / "m-Q4_K_M.gguf"), "-c", "8192", "-ngl", "37"]
