"""The GPU pipeline's compiled path (widen and scan, quantize, one read-back) on a fake CuPy running the C build.

Same bytes as the CPU for every compiled type and stored width; NaN, infinity and overflowing scales go
to the CPU fallback exactly as on the array path; a kernel that fails its first check, and any batch
with an importance matrix, take the array kernels.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np
import pytest

from engine.errors import InvalidValuesError
from engine.formats.ggml_types import GGMLType
from engine.quant import cuda_kernels, kernel_for
from engine.quant.gpu_pipeline import GpuPipeline, GpuTask
from tests.unit.engine.quant.c_kernels import CC, FakeRawModule, build_library
from tests.unit.engine.quant.fake_cupy import FakeCupy
from tests.unit.engine.quant.test_gpu_pipeline import gpu_choice, no_fallback, rows_of, run_all

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler to build the kernel source with")
COMPILED = [GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    return build_library(tmp_path_factory.mktemp("pipeline_c"))


@pytest.fixture()
def module(library: ctypes.CDLL, monkeypatch: pytest.MonkeyPatch) -> FakeRawModule:
    compiled = FakeRawModule(library)
    monkeypatch.setitem(sys.modules, "cupy", FakeCupy(compiled=compiled))
    monkeypatch.setattr(cuda_kernels, "_modules", {})
    monkeypatch.setattr(cuda_kernels, "_trusted", {})
    return compiled


def stored(rows: np.ndarray, raw_type: GGMLType) -> tuple[np.ndarray, np.ndarray]:
    """Rows as a GGUF stores them in ``raw_type`` (uint8) and the exact float32 values they hold."""
    data = kernel_for(raw_type).quantize_rows(rows)
    return data, kernel_for(raw_type).dequantize_rows(data, rows.shape[1])


def raw_task(rows: np.ndarray, qtype: GGMLType, raw_type: GGMLType, name: str = "t") -> GpuTask:
    data, wide = stored(rows, raw_type)
    return GpuTask(lambda: wide, qtype, rows.shape[0], rows.shape[1], name=name, read_raw=lambda: data,
                   raw_type=raw_type)


def float_task(rows: np.ndarray, qtype: GGMLType, name: str = "t") -> GpuTask:
    return GpuTask(lambda: rows, qtype, rows.shape[0], rows.shape[1], name=name)


@pytest.mark.parametrize("qtype", COMPILED)
@pytest.mark.parametrize("raw_type", [None, GGMLType.BF16, GGMLType.F16, GGMLType.F32])
def test_compiled_bytes_equal_the_cpu(module: FakeRawModule, qtype: GGMLType, raw_type: GGMLType | None) -> None:
    rows = [rows_of(seed, 6, 512) for seed in (1, 2, 3)]
    rows[1][2] = np.float32(1e-40)  # subnormal: flush-to-zero must not happen here either
    tasks = [float_task(r, qtype) if raw_type is None else raw_task(r, qtype, raw_type) for r in rows]
    with GpuPipeline(gpu_choice()) as pipe:
        got = run_all(pipe, tasks)
    for t, data in zip(tasks, got, strict=True):
        assert np.array_equal(data, kernel_for(qtype).quantize_rows(t.read()))
    widen = "qp_scan_f32" if raw_type in (None, GGMLType.F32) else f"qp_widen_{raw_type.name.lower()}"
    assert module.launches[widen] == len(tasks) and cuda_kernels.verdict(qtype.name) is True


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_goes_to_the_fallback(module: FakeRawModule, bad: float) -> None:
    good, broken = rows_of(4, 4, 256), rows_of(5, 4, 256)
    broken[3, 7] = np.float32(bad)
    seen: list[str] = []

    def fallback(t: GpuTask, rows: np.ndarray) -> np.ndarray:
        seen.append(t.name)
        assert np.array_equal(rows, broken, equal_nan=True)
        return np.zeros((t.n_rows, kernel_for(GGMLType.Q4_K).row_bytes(256)), dtype=np.uint8)

    with GpuPipeline(gpu_choice(1024)) as pipe:
        got = run_all(pipe, [float_task(good, GGMLType.Q4_K, "good"), float_task(broken, GGMLType.Q4_K, "bad")],
                      fallback=fallback)
    assert seen == ["bad"] and np.array_equal(got[0], kernel_for(GGMLType.Q4_K).quantize_rows(good))


def test_large_values_are_checked_and_an_overflowing_scale_declined(module: FakeRawModule) -> None:
    first, large, huge = rows_of(6, 4, 256), rows_of(7, 4, 256), rows_of(8, 4, 256)
    large[0, 0] = np.float32(70000.0)  # above binary16's range, but Q8_0's scale (70000/127) fits
    huge[1, 5] = np.float32(1e30)  # its scale does not
    with pytest.raises(InvalidValuesError):
        kernel_for(GGMLType.Q8_0).quantize_rows(huge)
    seen: list[str] = []

    def fallback(t: GpuTask, rows: np.ndarray) -> np.ndarray:
        seen.append(t.name)
        return np.zeros((t.n_rows, kernel_for(GGMLType.Q8_0).row_bytes(256)), dtype=np.uint8)

    tasks = [float_task(r, GGMLType.Q8_0, n) for r, n in ((first, "first"), (large, "large"), (huge, "huge"))]
    with GpuPipeline(gpu_choice(1024)) as pipe:
        got = run_all(pipe, tasks, fallback=fallback)
    assert seen == ["huge"] and np.array_equal(got[1], kernel_for(GGMLType.Q8_0).quantize_rows(large))
    assert module.launches["qp_q8_0"] == 3


def test_a_kernel_that_fails_its_check_is_not_used_again(module: FakeRawModule,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real = module.get_function

    def broken(name: str):  # noqa: ANN202 - the launcher's type is CuPy's
        launch = real(name)

        def wrong(grid: tuple[int, ...], block: tuple[int, ...], args: tuple) -> None:  # type: ignore[type-arg]
            launch(grid, block, args)
            if name == "qp_q8_0":
                args[1][:, 2] ^= 1  # one bit off in every row's first code
        return wrong

    monkeypatch.setattr(module, "get_function", broken)
    tasks = [float_task(rows_of(seed, 4, 256), GGMLType.Q8_0) for seed in (12, 13)]
    with GpuPipeline(gpu_choice(1024)) as pipe:
        got = run_all(pipe, tasks)
    for t, data in zip(tasks, got, strict=True):
        assert np.array_equal(data, kernel_for(GGMLType.Q8_0).quantize_rows(t.read()))
    assert cuda_kernels.verdict("Q8_0") is False and module.launches["qp_q8_0"] == 1


def test_an_importance_matrix_takes_the_array_kernels(module: FakeRawModule) -> None:
    rows, weights = rows_of(10, 4, 256), np.abs(rows_of(11, 1, 256)[0]) + np.float32(0.1)
    t = GpuTask(lambda: rows, GGMLType.Q4_K, 4, 256, weights)
    with GpuPipeline(gpu_choice(1024)) as pipe:
        got = run_all(pipe, [t], fallback=no_fallback)
    assert np.array_equal(got[0], kernel_for(GGMLType.Q4_K).quantize_rows(rows, imatrix=weights))
    assert sum(module.launches.values()) == 0


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 1e30 squared, on purpose
@pytest.mark.parametrize("qtype", [GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q5_K])  # Q6_K's scale holds 1e30
def test_quantize_rows_on_the_compiled_kernels_refuses_an_overflowing_scale(module: FakeRawModule,
                                                                            qtype: GGMLType) -> None:
    """The whole-array entry point, fed a CuPy array, checks every scale the compiled kernel wrote."""
    rows = rows_of(14, 4, 256)
    rows[1, 5] = np.float32(1e30)
    with pytest.raises(InvalidValuesError):
        kernel_for(qtype).quantize_rows(rows)
    cupy = sys.modules["cupy"]
    first = kernel_for(qtype).quantize_rows(cupy.asarray(rows_of(15, 4, 256)).view(cupy.ndarray), xp=cupy)
    assert cuda_kernels.verdict(qtype.name) is True and first.shape[0] == 4  # the compiled kernel is in use
    with pytest.raises(InvalidValuesError):
        kernel_for(qtype).quantize_rows(cupy.asarray(rows).view(cupy.ndarray), xp=cupy)
