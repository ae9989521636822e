"""The golden tests on the GPU: every kernel on CuPy gives llama-quantize's bytes, with and without an
importance matrix, and a whole conversion through the GPU pipeline gives llama.cpp's files.

Skipped (with the reason) where CuPy or a GPU is missing; bench/gpu_device_run.sh runs them on the device.
"""

from __future__ import annotations

import filecmp
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from gguf import GGUFReader

from engine.convert.gguf_source import open_gguf_source
from engine.convert.open_source import open_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.errors import InvalidValuesError
from engine.quant import dequantize, kernel_for, quantize
from engine.quant.device import DeviceChoice, choose_device
from engine.quant.ftypes import parse_file_type
from engine.quant.imatrix import read_imatrix
from engine.quant.xp import to_host
from tests.conftest import GOLDEN
from tests.unit.engine.quant.test_golden_imatrix import IMATRIX_TYPES
from tests.unit.engine.quant.test_golden_kernels import KERNEL_TYPES, read_tensors

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return read_tensors(GOLDEN / "kernels" / "input-f32.gguf")


def mismatched_rows(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.flatnonzero((ours != ref.view(np.uint8).reshape(ours.shape)).any(axis=1))


@pytest.mark.parametrize("type_name", KERNEL_TYPES)
def test_kernel_bytes_match_llama_quantize(cp: ModuleType, type_name: str, inputs: dict[str, np.ndarray]) -> None:
    reference = read_tensors(GOLDEN / "kernels" / f"{type_name}.gguf")
    for name, x in inputs.items():
        rows = cp.asarray(x.reshape(-1, x.shape[-1]))
        ours = to_host(quantize(rows, type_name, name=name))
        bad = mismatched_rows(ours, reference[name])
        assert bad.size == 0, f"{type_name} {name}: rows {bad[:10]} differ on the GPU"


@pytest.mark.parametrize("type_name", IMATRIX_TYPES)
def test_weighted_bytes_match_llama_quantize(cp: ModuleType, type_name: str, inputs: dict[str, np.ndarray]) -> None:
    imx = read_imatrix(GOLDEN / "imatrix" / "imatrix.gguf")
    reference = read_tensors(GOLDEN / "imatrix" / f"{type_name}.gguf")
    for name, x in inputs.items():
        rows = x.reshape(-1, x.shape[-1])
        weights = imx.for_tensor(name, rows.shape[1])
        ours = to_host(quantize(cp.asarray(rows), type_name, imatrix=cp.asarray(weights), name=name))
        bad = mismatched_rows(ours, reference[name])
        assert bad.size == 0, f"{type_name} {name}: rows {bad[:10]} differ on the GPU"


@pytest.mark.parametrize("type_name", KERNEL_TYPES)
def test_dequantize_matches_the_cpu(cp: ModuleType, type_name: str) -> None:
    kernel = kernel_for(type_name)
    for t in GGUFReader(GOLDEN / "kernels" / f"{type_name}.gguf").tensors:
        n_per_row = int(t.shape[0])
        data = np.array(t.data).view(np.uint8).reshape(-1, kernel.row_bytes(n_per_row))
        cpu = dequantize(data, type_name, n_per_row)
        gpu = to_host(dequantize(cp.asarray(data), type_name, n_per_row))
        assert np.array_equal(cpu.view(np.uint32), gpu.view(np.uint32)), f"{type_name} {t.name}"


def hard_rows(seed: int) -> np.ndarray:
    """64 rows of 4096 values that stress rounding: ties, zeros, subnormals, constant rows, wide ranges."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((64, 4096), dtype=np.float32)
    rows[1] = 0.0
    rows[2] = np.float32(1e-40)  # subnormal
    rows[3] = np.float32(0.5)
    rows[4] = np.round(rows[4] * 8) / 8  # many exact ties at the quantization steps
    rows[5] *= np.float32(1e-6)
    rows[6] *= np.float32(3000.0)
    rows[7, ::7] = -rows[7, ::7] * 100
    rows[8] = np.where(rng.random(4096) < 0.9, 0.0, rows[8]).astype(np.float32)  # sparse
    return rows


@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
@pytest.mark.parametrize("type_name", KERNEL_TYPES)
def test_gpu_equals_cpu_on_hard_values(cp: ModuleType, type_name: str, with_imatrix: bool) -> None:
    kernel = kernel_for(type_name)
    if with_imatrix and not kernel.uses_imatrix:
        pytest.skip(f"{type_name} takes no importance matrix")
    rows = hard_rows(1)
    weights = np.abs(np.random.default_rng(2).standard_normal(4096, dtype=np.float32)) if with_imatrix else None
    try:
        cpu = quantize(rows, type_name, imatrix=weights)
    except InvalidValuesError:
        with pytest.raises(InvalidValuesError):
            quantize(cp.asarray(rows), type_name, imatrix=None if weights is None else cp.asarray(weights))
        return
    gpu = to_host(quantize(cp.asarray(rows), type_name, imatrix=None if weights is None else cp.asarray(weights)))
    bad = mismatched_rows(gpu, cpu)
    assert bad.size == 0, f"{type_name}: rows {bad[:10]} differ between GPU and CPU"


def gpu_device(cp: ModuleType) -> DeviceChoice:
    """Where CuPy runs, the device layer must find the GPU too (UsageError says why it did not)."""
    return choose_device("gpu")


def test_auto_chooses_this_gpu(cp: ModuleType) -> None:
    choice = choose_device("auto")
    assert choice.is_gpu, choice.reason
    assert choice.batch_values > 0 and choice.memory_limit_bytes > 0 and choice.gpu_name
    name = cp.cuda.runtime.getDeviceProperties(choice.gpu_index)["name"]
    assert (name.decode() if isinstance(name, bytes) else name) == choice.gpu_name


def test_requant_through_the_pipeline_matches_llama_quantize(cp: ModuleType, tmp_path: Path) -> None:
    with open_gguf_source(GOLDEN / "requant" / "synth-a-f32.gguf") as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf", mark_quantized_by=False)
        execute(plan, source, device=gpu_device(cp))
    assert filecmp.cmp(tmp_path / "out.gguf", GOLDEN / "requant" / "synth-a-Q4_K_M.gguf", shallow=False)


@pytest.mark.parametrize("ftype", ["Q4_K_M", "BF16"])
def test_hf_folder_through_the_pipeline_matches_llama_cpp(cp: ModuleType, tmp_path: Path, ftype: str) -> None:
    ft = parse_file_type(ftype)
    with open_source(GOLDEN / "convert" / "hf-tiny-llama-spm", ft) as source:
        execute(make_plan(source, ft, output=tmp_path / "out.gguf", mark_quantized_by=False), source,
                device=gpu_device(cp))
    assert filecmp.cmp(tmp_path / "out.gguf", GOLDEN / "convert" / f"tiny-llama-spm-{ftype}.gguf", shallow=False)


@pytest.mark.parametrize("type_name", ["Q4_K", "Q2_K", "IQ4_XS"])
def test_imatrix_file_through_the_pipeline_matches_llama_quantize(
    cp: ModuleType, tmp_path: Path, type_name: str
) -> None:
    imatrix = replace(read_imatrix(GOLDEN / "imatrix" / "imatrix.gguf"), file="golden/kernels-imatrix.gguf")
    ftype = {"Q4_K": "Q4_K_M", "Q2_K": "Q2_K"}.get(type_name, type_name)
    out = tmp_path / "out.gguf"
    with open_gguf_source(GOLDEN / "kernels" / "input-f32.gguf") as source:
        plan = make_plan(source, ftype, output=out, pure=True, has_imatrix=True,
                         extra_metadata=imatrix.metadata(), mark_quantized_by=False)
        execute(plan, source, imatrix=imatrix, device=gpu_device(cp))
    assert filecmp.cmp(out, GOLDEN / "imatrix" / f"{type_name}.gguf", shallow=False)
