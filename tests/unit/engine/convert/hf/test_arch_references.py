"""Every supported architecture against the file llama.cpp's own converter wrote for the same checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from engine.convert.hf import open_hf_source
from engine.formats.ggml_types import GGMLType
from tests.unit.engine.convert.hf.arch_cases import CASES, ArchCase
from tests.unit.engine.convert.hf.gguf_compare import (
    reference_kvs,
    reference_tensor_table,
    source_kvs,
    tensor_bytes,
    tensor_table,
)

_OUTTYPES = {"bf16": GGMLType.BF16, "f16": GGMLType.F16, "f32": GGMLType.F32}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_llama_cpp_converter(case: ArchCase, tmp_path: Path) -> None:
    reader = GGUFReader(case.reference)
    outtype = None if case.outtype == "auto" else _OUTTYPES[case.outtype]
    with open_hf_source(case.folder(tmp_path), outtype=outtype) as source:
        assert source_kvs(source) == reference_kvs(reader)
        assert tensor_table(source) == reference_tensor_table(reader)
        by_name = {t.name: t for t in reader.tensors}
        for tensor in source.tensors:
            assert tensor_bytes(tensor) == np.asarray(by_name[tensor.name].data).tobytes(), tensor.name
