"""The two golden tiny llamas: our source must describe llama.cpp's BF16 file exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType

from engine.convert.hf import open_hf_source
from engine.formats.ggml_types import GGMLType
from tests.conftest import GOLDEN
from tests.unit.engine.convert.hf.gguf_compare import (
    reference_kvs,
    reference_tensor_table,
    source_kvs,
    tensor_bytes,
    tensor_table,
)

CONVERT = GOLDEN / "convert"
KINDS = ("spm", "bpe")


@pytest.fixture(scope="module", params=KINDS)
def pair(request: pytest.FixtureRequest):
    source = open_hf_source(CONVERT / f"hf-tiny-llama-{request.param}")
    reader = GGUFReader(CONVERT / f"tiny-llama-{request.param}-BF16.gguf")
    yield source, reader
    source.close()


def test_metadata_matches_llama_cpp_key_for_key(pair) -> None:
    source, reader = pair
    assert source_kvs(source) == reference_kvs(reader)


def test_tensor_names_order_shapes_and_types(pair) -> None:
    source, reader = pair
    assert tensor_table(source) == reference_tensor_table(reader)


def test_tensor_bytes_match(pair) -> None:
    source, reader = pair
    by_name = {t.name: t for t in reader.tensors}
    for tensor in source.tensors:
        assert tensor_bytes(tensor) == np.asarray(by_name[tensor.name].data).tobytes(), tensor.name


def test_source_fields(pair) -> None:
    source, _ = pair
    assert source.kind == "hf"
    assert source.facts.arch == "llama" and source.facts.n_layer == 2
    assert source.size_label in ("1.4M", "3.2M")
    assert source.model_name.startswith("Hf Tiny Llama")
    assert not source.already_quantized


@pytest.mark.parametrize("outtype, file_type", [(GGMLType.F16, 1), (GGMLType.F32, 0)])
def test_other_outtypes_change_only_matrix_types(outtype: GGMLType, file_type: int) -> None:
    bf16 = open_hf_source(CONVERT / "hf-tiny-llama-spm")
    other = open_hf_source(CONVERT / "hf-tiny-llama-spm", outtype=outtype)
    meta = dict(other.metadata)
    assert meta["general.file_type"].value == file_type
    assert [k for k, _ in other.metadata] == [k for k, _ in bf16.metadata]
    for a, b in zip(bf16.tensors, other.tensors, strict=True):
        assert (a.name, a.shape) == (b.name, b.shape)
        assert b.dtype == (GGMLType.F32 if a.dtype == GGMLType.F32 else outtype)
        np.testing.assert_array_equal(a.read_rows(0, a.n_rows), b.read_rows(0, b.n_rows))
    bf16.close()
    other.close()


def test_chunked_reads_equal_whole_reads() -> None:
    with open_hf_source(CONVERT / "hf-tiny-llama-spm") as source:
        for tensor in source.tensors:
            whole = tensor.read_rows(0, tensor.n_rows)
            parts = [tensor.read_rows(s, min(s + 7, tensor.n_rows)) for s in range(0, tensor.n_rows, 7)]
            np.testing.assert_array_equal(np.concatenate(parts), whole)
            assert whole.dtype == np.float32 and whole.shape == (tensor.n_rows, tensor.row_length)


def test_readme_card_names_the_model(tmp_path: Path) -> None:
    """general.name comes from the model card when there is one, as in llama.cpp's converter."""
    folder = tmp_path / "some-folder"
    shutil.copytree(CONVERT / "hf-tiny-llama-spm", folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Card\n")
    with open_hf_source(folder) as source:
        meta = dict(source.metadata)
    assert meta["general.license"] == _string("apache-2.0")
    assert meta["general.name"].value == "Some Folder"


def _string(value: str):
    from engine.formats.gguf_write import MetaValue

    return MetaValue(GGUFValueType.STRING, value)
