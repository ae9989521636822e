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
