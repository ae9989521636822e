"""``quantpick convert --device``: auto falls back quietly, gpu says why it cannot, the GPU writes the same file.

No test here loads the real libcuda: a fake one-GPU driver stands in for the CUDA warm-up.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.formats.gguf_read import read_gguf
from engine.quant import cuda_warmup
from engine.quant.cuda_warmup import CudaWarmup
from engine.quant.device import DeviceChoice
from tests.conftest import GOLDEN
from tests.unit.engine.quant.fake_cupy import FakeCupy, fake_nvml
from tests.unit.engine.quant.test_cuda_warmup import FakeDriver

SOURCE = GOLDEN / "requant" / "synth-a-f32.gguf"
REFERENCE = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"
BUS = "0000:01:00.0"
RELEASE = "cuDevicePrimaryCtxRelease_v2"


class Cuda:
    """The fake driver every warm-up loads, and the warm-ups started (each waited for after the test)."""

    def __init__(self) -> None:
        self.driver = FakeDriver(n_devices=1)
        self.warmups: list[CudaWarmup] = []

    def finished(self) -> FakeDriver:
        """The driver once every warm-up's thread is done (release() does not wait for it)."""
        assert all(w.wait(timeout=10) for w in self.warmups)
        return self.driver


@pytest.fixture(autouse=True)
def cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cuda]:
    import engine.cli.cmd_convert as cmd  # noqa: PLC0415 - the module whose names are patched

    fake = Cuda()
    real_start = cuda_warmup.start_cuda_warmup

    def start_cuda_warmup() -> CudaWarmup:
        fake.warmups.append(real_start())
        return fake.warmups[-1]

    monkeypatch.setattr(cuda_warmup, "_load_driver", lambda: fake.driver)
    monkeypatch.setattr(cmd, "start_cuda_warmup", start_cuda_warmup)
    yield fake
    fake.finished()


def test_forced_gpu_without_a_driver_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cuda: Cuda
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(None, init_error=True))
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(tmp_path / "m.gguf"), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("quantpick: The GPU cannot be used for quantizing: no NVIDIA driver was found")
    assert list(tmp_path.iterdir()) == []
    assert cuda.finished().calls.count(RELEASE) == 1 and cuda.driver.retained == 0


def test_unknown_device_is_refused_by_the_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(tmp_path / "m.gguf"), "--device", "tpu"]) == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


@pytest.mark.parametrize("device_args", [[], ["--device", "auto"], ["--device", "cpu"]])
def test_without_a_gpu_the_cpu_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, device_args: list[str],
    cuda: Cuda,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(None, init_error=True))
    out = tmp_path / "m.gguf"
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(out), "--json", *device_args]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "CPU"
    if device_args == ["--device", "cpu"]:
        assert cuda.warmups == [] and cuda.driver.calls == []  # asked for the CPU: CUDA is never touched
    else:  # auto fell to the CPU: the context the warm-up retained is given back, its GPU memory with it
        assert len(cuda.warmups) == 1
        assert cuda.finished().calls.count(RELEASE) == 1 and cuda.driver.retained == 0


def test_auto_uses_the_gpu_when_there_is_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cuda: Cuda
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml({BUS: ("NVIDIA Fake", 40 << 30)}))
    cupy = FakeCupy((BUS,))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    out = tmp_path / "m.gguf"
    assert main(["convert", str(SOURCE), "-t", "Q4_K_M", "-o", str(out)]) == 0
    assert "s on GPU 0 (NVIDIA Fake, 40.0 GiB free)." in capsys.readouterr().out
    assert cupy.devices_used and cupy.pinned_pool.freed == 1  # the fake GPU did the work
    ours, ref = read_gguf(out), read_gguf(REFERENCE)
    assert [t.name for t in ours.tensors] == [t.name for t in ref.tensors]
    for t in ref.tensors:
        assert np.array_equal(ours.raw(t.name), ref.raw(t.name)), t.name
    # The warm-up's context stays for the GPU's use (CuPy's runtime holds its own; the process exit frees it).
    assert RELEASE not in cuda.finished().calls and cuda.driver.retained == 1


def test_the_device_starts_while_the_source_is_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """choose_device waits until the source is open: that only returns if the two run side by side."""
    import engine.cli.cmd_convert as cmd  # noqa: PLC0415 - the module whose names are patched

    source_open, overlapped = threading.Event(), []
    real_open = cmd.open_source

    def open_source(*args: object, **kwargs: object) -> object:
        source_open.set()
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    def choose_device(request: str) -> DeviceChoice:
        overlapped.append(source_open.wait(timeout=10))
        return DeviceChoice("cpu", "test")

    monkeypatch.setattr(cmd, "open_source", open_source)
    monkeypatch.setattr(cmd, "choose_device", choose_device)
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(tmp_path / "m.gguf")]) == 0
    assert overlapped == [True]


def test_a_dry_run_starts_no_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cuda: Cuda) -> None:
    import engine.cli.cmd_convert as cmd  # noqa: PLC0415

    monkeypatch.setattr(cmd, "choose_device", lambda request: pytest.fail("a dry run chose a device"))
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(tmp_path / "m.gguf"), "--dry-run"]) == 0
    assert list(tmp_path.iterdir()) == []
    assert cuda.warmups == [] and cuda.driver.calls == []
