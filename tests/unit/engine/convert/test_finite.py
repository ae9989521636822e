"""NaN, inf and F16 overflow stop a conversion with the tensor named, unless the user asks to clamp."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFValueType

from engine.cli.main import main
from engine.convert.finite import checked_rows, clamp_limit, raw_is_finite
from engine.convert.gguf_source import open_gguf_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.errors import InvalidValuesError
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_write import GGUFStreamWriter, MetaValue, TensorSlot
from engine.quant import dequantize

WEIGHT = "blk.0.ffn_up.weight"
NORM = "blk.0.attn_norm.weight"


def write_model(path: Path, weights: np.ndarray, norm: np.ndarray | None = None) -> str:
    """A one-layer F32 llama GGUF; returns its sha256."""
    meta = [("general.architecture", MetaValue(GGUFValueType.STRING, "llama")),
            ("llama.block_count", MetaValue(GGUFValueType.UINT32, 1))]
    norm = np.ones(weights.shape[1], np.float32) if norm is None else norm
    slots = [TensorSlot(NORM, (norm.shape[0],), GGMLType.F32),
             TensorSlot(WEIGHT, (weights.shape[1], weights.shape[0]), GGMLType.F32)]
    with GGUFStreamWriter(path, meta, slots) as w:
        w.write(norm.astype(np.float32))
        w.write(weights.astype(np.float32))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(src: Path, out: Path, ftype: str, *, clamp: bool = False) -> None:
    with open_gguf_source(src) as source:
        plan = make_plan(source, ftype, output=out)
        execute(plan, source, threads=1, clamp=clamp)


def weights_with(value: float, row: int = 2, col: int = 5) -> np.ndarray:
    w = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    w[row, col] = value
    return w


@pytest.mark.parametrize("ftype", ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q2_K", "IQ4_NL"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_stop_with_the_tensor_named(tmp_path: Path, ftype: str, bad: float) -> None:
    src = tmp_path / "in.gguf"
    digest = write_model(src, weights_with(bad))
    with pytest.raises(InvalidValuesError) as info:
        convert(src, tmp_path / "out.gguf", ftype)
    what = "NaN" if np.isnan(bad) else "+infinity" if bad > 0 else "-infinity"
    assert f"Tensor {WEIGHT} contains {what}" in info.value.message
    assert "row 2, column 5" in info.value.message and "--clamp" in info.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gguf"]
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest


def test_nan_in_a_tensor_copied_unchanged_is_caught(tmp_path: Path) -> None:
    """The F32 norm is copied byte for byte; it is checked all the same."""
    src = tmp_path / "in.gguf"
    norm = np.ones(256, np.float32)
    norm[7] = np.nan
    write_model(src, weights_with(0.5), norm)
    with pytest.raises(InvalidValuesError, match=f"Tensor {NORM} contains NaN"):
        convert(src, tmp_path / "out.gguf", "Q8_0")
    convert(src, tmp_path / "out.gguf", "Q8_0", clamp=True)
    assert read_gguf(tmp_path / "out.gguf").view(NORM)[7] == 0.0


def test_f16_overflow_stops_unless_clamped(tmp_path: Path) -> None:
    src = tmp_path / "in.gguf"
    write_model(src, weights_with(1e6))
    with pytest.raises(InvalidValuesError, match=WEIGHT) as info:
        convert(src, tmp_path / "out.gguf", "F16")
    assert "--clamp" in info.value.hint
    convert(src, tmp_path / "out.gguf", "F16", clamp=True)
    out = read_gguf(tmp_path / "out.gguf").view(WEIGHT)
    assert out[2, 5] == 65504.0 and np.isfinite(out.astype(np.float32)).all()


@pytest.mark.parametrize("ftype,qtype", [("F16", GGMLType.F16), ("BF16", GGMLType.BF16), ("Q8_0", GGMLType.Q8_0),
                                         ("Q4_K_M", GGMLType.Q4_K), ("F32", GGMLType.F32)])
def test_clamp_writes_nan_as_zero_and_inf_as_the_limit(tmp_path: Path, ftype: str, qtype: GGMLType) -> None:
    w = weights_with(np.nan)
    w[1, 0], w[3, 9] = np.inf, -np.inf
    src = tmp_path / "in.gguf"
    write_model(src, w)
    convert(src, tmp_path / "out.gguf", ftype, clamp=True)
    g = read_gguf(tmp_path / "out.gguf")
    info = g.tensor(WEIGHT)
    assert info.qtype == qtype
    back = dequantize(np.asarray(g.raw(WEIGHT)), qtype, 256).reshape(4, 256)
    assert np.isfinite(back).all()
    if qtype in (GGMLType.F32, GGMLType.F16, GGMLType.BF16):
        assert back[2, 5] == 0 and back[1, 0] == clamp_limit(qtype) and back[3, 9] == -clamp_limit(qtype)


def test_finite_weights_are_not_touched_by_clamp(tmp_path: Path) -> None:
    src = tmp_path / "in.gguf"
    write_model(src, weights_with(3.0))
    convert(src, tmp_path / "a.gguf", "Q4_K_M")
    convert(src, tmp_path / "b.gguf", "Q4_K_M", clamp=True)
    assert (tmp_path / "a.gguf").read_bytes() == (tmp_path / "b.gguf").read_bytes()


def test_cli_clamp_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.gguf"
    write_model(src, weights_with(np.nan))
    out = tmp_path / "out.gguf"
    assert main(["convert", str(src), "-t", "Q8_0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert WEIGHT in err and "--clamp" in err and err.count("\n") == 1 and not out.exists()
    assert main(["convert", str(src), "-t", "Q8_0", "-o", str(out), "--clamp"]) == 0
    assert read_gguf(out).tensor(WEIGHT).qtype == GGMLType.Q8_0


def test_checked_rows_counts_rows_from_the_chunk_start() -> None:
    rows = np.zeros((3, 8), np.float32)
    rows[1, 6] = np.inf
    with pytest.raises(InvalidValuesError, match="row 101, column 6"):
        checked_rows(rows, name="t", first_row=100, target=GGMLType.Q8_0, clamp=False)
    assert checked_rows(rows, name="t", first_row=0, target=GGMLType.F16, clamp=True)[1, 6] == 65504.0


@pytest.mark.parametrize("qtype,dtype,special", [
    (GGMLType.F32, np.float32, [np.nan, np.inf, -np.inf]),
    (GGMLType.F16, np.float16, [np.nan, np.inf, -np.inf]),
])
def test_raw_is_finite(qtype: GGMLType, dtype: type, special: list[float]) -> None:
    ok = np.linspace(-3, 3, 16).astype(dtype)
    assert raw_is_finite(ok.view(np.uint8).reshape(2, -1), qtype)
    for value in special:
        bad = ok.copy()
        bad[9] = value
        assert not raw_is_finite(bad.view(np.uint8).reshape(2, -1), qtype)


def test_raw_is_finite_bf16_and_quantized() -> None:
    bits = np.array([0x3F80, 0xBF80, 0x7F7F, 0x0001], np.uint16)
    assert raw_is_finite(bits.view(np.uint8).reshape(1, -1), GGMLType.BF16)
    bits[2] = 0x7F80
    assert not raw_is_finite(bits.view(np.uint8).reshape(1, -1), GGMLType.BF16)
    assert raw_is_finite(np.full((1, 34), 0xFF, np.uint8), GGMLType.Q8_0)  # block types are not inspected
