"""Every type reproduces llama-quantize's bytes with an importance matrix, and the metadata it records."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from engine.quant import quantize
from engine.quant.imatrix import read_imatrix
from tests.conftest import GOLDEN

# Every reference file made with `llama-quantize --pure --imatrix golden/kernels-imatrix.gguf ...`.
IMATRIX_TYPES = sorted(p.stem for p in (GOLDEN / "imatrix").glob("*.gguf") if p.stem != "imatrix")
AS_GIVEN = "golden/kernels-imatrix.gguf"  # the --imatrix argument those runs were given


def read_tensors(path: Path) -> dict[str, np.ndarray]:
    return {t.name: np.array(t.data) for t in GGUFReader(path).tensors}


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return read_tensors(GOLDEN / "kernels" / "input-f32.gguf")


def test_every_weighted_type_has_a_reference() -> None:
    assert IMATRIX_TYPES == sorted(
        ["IQ4_NL", "IQ4_XS", "Q2_K", "Q3_K", "Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K", "Q8_0"]
    )


@pytest.mark.parametrize("type_name", IMATRIX_TYPES)
def test_weighted_bytes_match_llama_quantize(type_name: str, inputs: dict[str, np.ndarray]) -> None:
    imx = read_imatrix(GOLDEN / "imatrix" / "imatrix.gguf")
    reference = read_tensors(GOLDEN / "imatrix" / f"{type_name}.gguf")
    for name, x in inputs.items():
        rows = x.reshape(-1, x.shape[-1])
        weights = imx.for_tensor(name, rows.shape[1])
        assert weights is not None, f"the golden imatrix has no entry for {name}"
        ours = quantize(rows, type_name, imatrix=weights, name=name)
        ref = reference[name].view(np.uint8).reshape(ours.shape)
        mismatched_rows = np.flatnonzero((ours != ref).any(axis=1))
        assert mismatched_rows.size == 0, f"{type_name} {name}: rows {mismatched_rows[:10]} differ"


@pytest.mark.parametrize("type_name", IMATRIX_TYPES)
def test_imatrix_metadata_matches_llama_quantize(
    type_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read through the same relative path llama-quantize was given, our quantize.imatrix.* entries
    equal the reference file's: same keys, order, value types and values."""
    (tmp_path / "golden").mkdir()
    shutil.copy(GOLDEN / "imatrix" / "imatrix.gguf", tmp_path / AS_GIVEN)
    reference = GGUFReader(GOLDEN / "imatrix" / f"{type_name}.gguf")
    monkeypatch.chdir(tmp_path)
    ours = [(key, m.vtype, m.value) for key, m in read_imatrix(AS_GIVEN).metadata()]
    theirs = [
        (f.name, f.types[0], f.contents())
        for f in reference.fields.values()
        if f.name.startswith("quantize.imatrix.")
    ]
    assert ours == theirs
