"""Whole files: a Hugging Face folder through plan + execute equals llama.cpp's file byte for byte."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from engine.convert.hf import open_hf_source
from engine.convert.open_source import open_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.formats.ggml_types import GGMLType
from engine.quant.ftypes import parse_file_type
from tests.conftest import GOLDEN
from tests.unit.engine.convert.hf.arch_cases import CASES, ArchCase

CONVERT = GOLDEN / "convert"
_OUTTYPES = {"bf16": GGMLType.BF16, "f16": GGMLType.F16, "f32": GGMLType.F32, "auto": None}


@pytest.mark.parametrize("kind, ftype", [("spm", "BF16"), ("bpe", "BF16"), ("spm", "Q4_K_M")])
def test_golden_tiny_llamas(kind: str, ftype: str, tmp_path: Path) -> None:
    ft = parse_file_type(ftype)
    out = tmp_path / "out.gguf"
    with open_source(CONVERT / f"hf-tiny-llama-{kind}", ft) as source:
        execute(make_plan(source, ft, output=out, mark_quantized_by=False), source, threads=2)
    assert filecmp.cmp(out, CONVERT / f"tiny-llama-{kind}-{ftype}.gguf", shallow=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_architecture(case: ArchCase, tmp_path: Path) -> None:
    out = tmp_path / "out.gguf"
    with open_hf_source(case.folder(tmp_path), outtype=_OUTTYPES[case.outtype]) as source:
        matrix_type = next(t.dtype for t in source.tensors if t.dtype != GGMLType.F32)
        ft = parse_file_type(matrix_type.name)
        execute(make_plan(source, ft, output=out, mark_quantized_by=False), source, threads=2)
    assert filecmp.cmp(out, case.reference, shallow=False)
