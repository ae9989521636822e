"""Whole output files, with and without an importance matrix, equal llama-quantize's byte for byte."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.convert.gguf_source import open_gguf_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.quant.imatrix import read_imatrix
from tests.conftest import GOLDEN

FTYPE_FOR = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}
TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]


@pytest.mark.parametrize("type_name", TYPES)
def test_pure_imatrix_file_is_byte_identical(type_name: str, tmp_path: Path) -> None:
    # llama-quantize stores the imatrix path as typed on its command line.
    imatrix = replace(read_imatrix(GOLDEN / "imatrix" / "imatrix.gguf"), file="golden/kernels-imatrix.gguf")
    out = tmp_path / "out.gguf"
    with open_gguf_source(GOLDEN / "kernels" / "input-f32.gguf") as source:
        plan = make_plan(source, FTYPE_FOR.get(type_name, type_name), output=out, pure=True, has_imatrix=True,
                         extra_metadata=imatrix.metadata(), mark_quantized_by=False)
        execute(plan, source, imatrix=imatrix)
    assert out.read_bytes() == (GOLDEN / "imatrix" / f"{type_name}.gguf").read_bytes()


@pytest.mark.parametrize("type_name", TYPES + ["F16", "BF16"])
def test_pure_file_without_imatrix_is_byte_identical(type_name: str, tmp_path: Path) -> None:
    out = tmp_path / "out.gguf"
    with open_gguf_source(GOLDEN / "kernels" / "input-f32.gguf") as source:
        plan = make_plan(source, FTYPE_FOR.get(type_name, type_name), output=out, pure=True, mark_quantized_by=False)
        execute(plan, source)
    assert out.read_bytes() == (GOLDEN / "kernels" / f"{type_name}.gguf").read_bytes()
