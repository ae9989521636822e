"""The worker's download paths against a fake Hub client, and its progress throttle."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from app.jobs.job import JobState
from app.jobs.queue import JobQueue
from app.jobs.tasks import DownloadConvertTask, DownloadTask
from app.jobs.worker import _Throttle
from engine.errors import CancelledError, OfflineError
from engine.formats.gguf_read import read_gguf
from engine.hub import GGUFVariant
from engine.hub.models import DownloadResult, RepoFile
from engine.progress import CancelToken, Progress
from engine.quant.ftypes import parse_file_type
from tests.conftest import GOLDEN
from tests.unit.app.jobs.conftest import TINY

pytestmark = pytest.mark.gui

HF_TINY = GOLDEN / "convert" / "hf-tiny-llama-spm"
VARIANT = GGUFVariant("Q4_K_M", "Q4_K_M", (RepoFile("model-Q4_K_M.gguf", TINY.stat().st_size),),
                      TINY.stat().st_size)


class FakeHub:
    """Serves files from disk as if they came from the Hub; records the thread it was made on."""

    def __init__(self, cache: Path, *, fail: Exception | None = None) -> None:
        self.cache = cache
        self.fail = fail
        self.made_on = threading.current_thread()
        self.calls: list[str] = []

    def _report(self, on_progress, cancel: CancelToken | None, total: int) -> None:
        for done in (total // 2, total):
            if cancel is not None:
                cancel.check()
            on_progress(Progress(done, total, "file", 1e6, 0.0))

    def download_quant(self, repo_id: str, variant: GGUFVariant, *, on_progress, cancel=None) -> DownloadResult:
        self.calls.append(f"quant {repo_id} {variant.name}")
        if self.fail is not None:
            raise self.fail
        self._report(on_progress, cancel, variant.size)
        target = self.cache / variant.first_file.name
        shutil.copyfile(TINY, target)
        return DownloadResult(repo_id, "main", (target,), variant.size, variant.size)

    def download_source(self, repo_id: str, *, on_progress, cancel=None) -> DownloadResult:
        self.calls.append(f"source {repo_id}")
        snapshot = self.cache / "models--org--tiny" / "snapshots" / "abc123"
        shutil.copytree(HF_TINY, snapshot)
        files = tuple(sorted(snapshot.iterdir()))
        total = sum(f.stat().st_size for f in files)
        self._report(on_progress, cancel, total)
        return DownloadResult(repo_id, "main", files, total, total)


def make_queue(qtbot, hub: FakeHub | None, made: list[FakeHub]) -> JobQueue:
    def factory() -> FakeHub:
        assert hub is not None
        made.append(hub)
        hub.made_on = threading.current_thread()
        return hub

    return JobQueue(client_factory=factory)


def test_throttle_forwards_first_and_last_only_within_the_interval() -> None:
    seen: list[int] = []
    throttle = _Throttle(lambda p: seen.append(p.done), interval_s=3600)
    for done in range(10):
        throttle(Progress(done, 9, "", 0.0, None))
    assert seen == [0, 9]


def test_download_quant_job(qtbot, tmp_path: Path) -> None:
    hub, made = FakeHub(tmp_path), []
    queue = make_queue(qtbot, hub, made)
    try:
        job = queue.add_task(DownloadTask("org/tiny-GGUF", VARIANT))
        qtbot.waitUntil(lambda: job.state.is_final, timeout=30_000)
    finally:
        assert queue.shutdown()
    assert job.state is JobState.DONE, job.failure
    assert job.result is not None and job.result.downloaded
    assert job.result.output == tmp_path / "model-Q4_K_M.gguf"
    assert job.server_command() is not None and "model-Q4_K_M.gguf" in job.server_command()
    assert hub.calls == ["quant org/tiny-GGUF Q4_K_M"]
    assert hub.made_on is not threading.main_thread()  # the token store is read off the GUI thread


def test_download_then_convert_job(qtbot, tmp_path: Path) -> None:
    hub, made = FakeHub(tmp_path / "cache"), []
    phases: list[str] = []
    queue = make_queue(qtbot, hub, made)
    queue.job_changed.connect(lambda i: phases.append(queue.job(i).phase) if queue.job(i).phase not in phases
                              else None)
    try:
        job = queue.add_task(DownloadConvertTask("org/tiny", parse_file_type("Q4_K_M"), tmp_path / "out"))
        qtbot.waitUntil(lambda: job.state.is_final, timeout=60_000)
    finally:
        assert queue.shutdown()
    assert job.state is JobState.DONE, job.failure
    assert phases == ["", "Downloading", "Converting"]
    assert job.result is not None and not job.result.downloaded
    assert job.result.output.parent == tmp_path / "out"
    assert read_gguf(job.result.output).get("general.file_type") == 15


@pytest.mark.parametrize("error", [OfflineError("Cannot reach Hugging Face."), CancelledError("stopped")])
def test_hub_errors_end_the_job(qtbot, tmp_path: Path, error: Exception) -> None:
    queue = make_queue(qtbot, FakeHub(tmp_path, fail=error), [])
    try:
        job = queue.add_task(DownloadTask("org/tiny-GGUF", VARIANT))
        qtbot.waitUntil(lambda: job.state.is_final, timeout=30_000)
    finally:
        assert queue.shutdown()
    if isinstance(error, CancelledError):
        assert job.state is JobState.CANCELLED
    else:
        assert job.state is JobState.FAILED and job.failure is not None
        assert job.failure.message == "Cannot reach Hugging Face."
        assert "internet connection" in job.failure.hint
