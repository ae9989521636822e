"""The compiled CUDA kernels compile on this GPU and are the ones in use (their self-check would otherwise
switch them off quietly and only the speed would show it)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from engine.quant import cuda_kernels, quantize
from engine.quant.cuda_source import KERNELS
from engine.quant.xp import to_host

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("type_name", sorted(KERNELS))
def test_compiled_kernel_runs_and_matches_the_cpu(cp: ModuleType, type_name: str) -> None:
    rows = np.random.default_rng(4).standard_normal((300, 1024)).astype(np.float32)
    rows[7] = np.float32(1e-38)  # subnormal scales: exact only with flush-to-zero off
    launched = cuda_kernels.launch(cp.asarray(rows), type_name, cp)
    assert launched is not None, "the CUDA module did not compile"
    assert (to_host(launched) == quantize(rows, type_name)).all()
    quantize(cp.asarray(rows), type_name)
    assert cuda_kernels.verdict(type_name) is True


@pytest.mark.parametrize("stored_type", ["BF16", "F16", "F32"])
def test_widening_is_exact_and_scans_every_value(cp: ModuleType, stored_type: str) -> None:
    bits = np.random.default_rng(6).integers(0, 1 << 32, 1_000_003, dtype=np.uint64).astype(np.uint32)
    stored = bits.view(np.float32) if stored_type == "F32" else (bits & np.uint32(0xFFFF)).astype(np.uint16)
    if stored_type == "F32":  # keep the values finite but for one: NaN must reach the scan
        stored = np.where(np.isfinite(stored), stored, np.float32(1.0)).astype(np.float32)
        stored[777_777] = np.float32(np.nan)
    want = (stored if stored_type == "F32" else (stored.astype(np.uint32) << 16).view(np.float32)
            if stored_type == "BF16" else stored.view(np.float16).astype(np.float32))
    out, maxbits = cp.full(stored.size, np.nan, dtype=cp.float32), cp.zeros(1, dtype=cp.uint32)
    assert cuda_kernels.widen(cp.asarray(stored), stored_type, stored.size, out, maxbits, cp)
    if stored_type != "F32":
        assert (to_host(out).view(np.uint32) == want.view(np.uint32)).all()
    assert int(to_host(maxbits)[0]) == int((want.view(np.uint32) & np.uint32(0x7FFFFFFF)).max())
