"""execute(device=GPU) on a numpy-backed fake CuPy: the same files as the CPU path, errors and clamping included."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.convert import run as run_mod
from engine.convert.gguf_source import open_gguf_source
from engine.convert.open_source import open_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.errors import CancelledError, InvalidValuesError
from engine.progress import CancelToken, Progress
from engine.quant import cuda_kernels
from engine.quant.device import DeviceChoice
from engine.quant.ftypes import parse_file_type
from engine.quant.imatrix import read_imatrix
from tests.conftest import GOLDEN
from tests.unit.engine.convert.test_finite import WEIGHT, weights_with, write_model
from tests.unit.engine.quant.c_kernels import CC, FakeRawModule, build_library
from tests.unit.engine.quant.fake_cupy import FakeCupy


def gpu(batch_values: int = 1 << 14) -> DeviceChoice:
    """Small batches, so the golden models span many batches and tensors share them."""
    return DeviceChoice("gpu", "test", gpu_index=0, gpu_name="Fake", free_bytes=1 << 30,
                        batch_values=batch_values, memory_limit_bytes=1 << 29)


@pytest.fixture()
def cupy(monkeypatch: pytest.MonkeyPatch) -> FakeCupy:
    fake = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


@pytest.mark.parametrize("batch_values", [1 << 12, 1 << 16])
def test_requant_matches_llama_quantize(cupy: FakeCupy, tmp_path: Path, batch_values: int) -> None:
    with open_gguf_source(GOLDEN / "requant" / "synth-a-f32.gguf") as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf", mark_quantized_by=False)
        execute(plan, source, device=gpu(batch_values))
    assert (tmp_path / "out.gguf").read_bytes() == (GOLDEN / "requant" / "synth-a-Q4_K_M.gguf").read_bytes()
    assert cupy.pool.limit == 0 and cupy.pinned_pool.freed == 1  # the pipeline was closed


def test_hf_folder_matches_llama_cpp(cupy: FakeCupy, tmp_path: Path) -> None:
    ft = parse_file_type("Q4_K_M")
    with open_source(GOLDEN / "convert" / "hf-tiny-llama-spm", ft) as source:
        execute(make_plan(source, ft, output=tmp_path / "out.gguf", mark_quantized_by=False), source, device=gpu())
    assert (tmp_path / "out.gguf").read_bytes() == (GOLDEN / "convert" / "tiny-llama-spm-Q4_K_M.gguf").read_bytes()


@pytest.mark.skipif(CC is None, reason="no C compiler to build the kernel source with")
@pytest.mark.parametrize("ftype", ["Q4_K_M", "Q8_0"])
def test_hf_folder_on_the_compiled_kernels_matches_llama_cpp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ftype: str
) -> None:
    """BF16 rows go up as stored (q/k permuted by row), are widened by the compiled kernel and quantized there."""
    module = FakeRawModule(build_library(tmp_path))
    monkeypatch.setitem(sys.modules, "cupy", FakeCupy(compiled=module))
    monkeypatch.setattr(cuda_kernels, "_modules", {})
    monkeypatch.setattr(cuda_kernels, "_trusted", {})
    ft = parse_file_type(ftype)
    for out, device in ((tmp_path / "gpu.gguf", gpu()), (tmp_path / "cpu.gguf", None)):
        with open_source(GOLDEN / "convert" / "hf-tiny-llama-spm", ft) as source:
            execute(make_plan(source, ft, output=out, mark_quantized_by=False), source, device=device)
    assert (tmp_path / "gpu.gguf").read_bytes() == (tmp_path / "cpu.gguf").read_bytes()
    if ftype == "Q4_K_M":  # the file llama.cpp wrote
        assert (tmp_path / "gpu.gguf").read_bytes() == (GOLDEN / "convert" / "tiny-llama-spm-Q4_K_M.gguf").read_bytes()
    assert module.launches["qp_widen_bf16"] > 0 and module.launches["qp_scan_f32"] == 0


@pytest.mark.parametrize("type_name", ["Q4_K", "IQ4_XS", "Q5_0"])
def test_imatrix_file_matches_llama_quantize(cupy: FakeCupy, tmp_path: Path, type_name: str) -> None:
    imatrix = replace(read_imatrix(GOLDEN / "imatrix" / "imatrix.gguf"), file="golden/kernels-imatrix.gguf")
    out = tmp_path / "out.gguf"
    with open_gguf_source(GOLDEN / "kernels" / "input-f32.gguf") as source:
        plan = make_plan(source, {"Q4_K": "Q4_K_M"}.get(type_name, type_name), output=out, pure=True,
                         has_imatrix=True, extra_metadata=imatrix.metadata(), mark_quantized_by=False)
        execute(plan, source, imatrix=imatrix, device=gpu())
    assert out.read_bytes() == (GOLDEN / "imatrix" / f"{type_name}.gguf").read_bytes()


def test_nan_stops_with_the_cpu_message_and_leaves_no_file(cupy: FakeCupy, tmp_path: Path) -> None:
    src = tmp_path / "in.gguf"
    write_model(src, weights_with(np.nan))
    with open_gguf_source(src) as source:
        plan = make_plan(source, "Q8_0", output=tmp_path / "out.gguf")
        with pytest.raises(InvalidValuesError) as info:
            execute(plan, source, device=gpu())
    assert f"Tensor {WEIGHT} contains NaN (first at row 2, column 5)" in info.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gguf"]


@pytest.mark.parametrize(("value", "ftype"), [(np.inf, "Q4_K_M"), (1e30, "Q8_0"), (np.nan, "F16")])
def test_clamped_output_equals_the_cpu_path(cupy: FakeCupy, tmp_path: Path, value: float, ftype: str) -> None:
    src = tmp_path / "in.gguf"
    write_model(src, weights_with(value))
    outputs = []
    for device in (None, gpu()):
        out = tmp_path / f"out-{'gpu' if device else 'cpu'}.gguf"
        with open_gguf_source(src) as source:
            execute(make_plan(source, ftype, output=out), source, threads=1, clamp=True, device=device)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_non_finite_stored_tensor_is_checked(cupy: FakeCupy, tmp_path: Path) -> None:
    """A norm copied as stored (F32 -> F32) still gets the CPU path's NaN check."""
    src = tmp_path / "in.gguf"
    norm = np.ones(256, np.float32)
    norm[3] = np.nan
    write_model(src, weights_with(0.5), norm)
    with open_gguf_source(src) as source:
        with pytest.raises(InvalidValuesError, match="attn_norm.weight contains NaN"):
            execute(make_plan(source, "Q8_0", output=tmp_path / "out.gguf"), source, device=gpu())


def test_cancel_leaves_no_file(cupy: FakeCupy, tmp_path: Path) -> None:
    token = CancelToken()

    def cancel_half_way(p: Progress) -> None:
        if p.fraction > 0.5:
            token.cancel()

    with open_gguf_source(GOLDEN / "requant" / "synth-a-f32.gguf") as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf")
        with pytest.raises(CancelledError):
            execute(plan, source, progress=cancel_half_way, cancel=token, device=gpu(1 << 12))
    assert list(tmp_path.iterdir()) == []


def test_progress_reaches_the_total(cupy: FakeCupy, tmp_path: Path) -> None:
    seen: list[Progress] = []
    with open_gguf_source(GOLDEN / "requant" / "synth-a-f32.gguf") as source:
        plan = make_plan(source, "Q8_0", output=tmp_path / "out.gguf")
        execute(plan, source, progress=seen.append, device=gpu())
    assert seen[-1].done == seen[-1].total == plan.bytes_to_process


def test_a_cpu_choice_takes_the_cpu_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_mod, "GpuPipeline", lambda *a: pytest.fail("GPU pipeline built for a CPU choice"))
    with open_gguf_source(GOLDEN / "requant" / "synth-a-f32.gguf") as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf", mark_quantized_by=False)
        execute(plan, source, threads=1, device=DeviceChoice("cpu", "asked"))
    assert (tmp_path / "out.gguf").read_bytes() == (GOLDEN / "requant" / "synth-a-Q4_K_M.gguf").read_bytes()
