"""Row reading: the rotary permutation, the Gemma shift, and bounded reads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.convert.hf import rows as rows_module
from engine.convert.hf.rows import RowSource, rotary_source
from tests.unit.engine.convert.hf.checkpoints import bf16_bits


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The converter's reshape/swapaxes formulation, written independently of ``rotary_source``."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _source(tmp_path: Path, values: np.ndarray, dtype: str, **kw: object) -> tuple[RowSource, int]:
    raw = {"F32": values.astype("<f4"), "F16": values.astype("<f2"), "BF16": bf16_bits(values)}[dtype]
    path = tmp_path / "t.bin"
    path.write_bytes(b"pad!" + raw.tobytes())
    fd = os.open(path, os.O_RDONLY)
    shape = values.shape if values.ndim > 1 else (1, values.shape[0])
    return RowSource(fd, 4, dtype, shape[-1], shape[0], **kw), fd  # type: ignore[arg-type]


@pytest.mark.parametrize("n_head, rows", [(4, 64), (2, 32), (8, 128), (1, 16)])
def test_rotary_source_is_the_converters_permutation(n_head: int, rows: int) -> None:
    index = np.arange(rows)
    np.testing.assert_array_equal(rotary_source(index, rows // n_head), _llama_cpp_permute(index, n_head))


@pytest.mark.parametrize("chunk", [1, 3, 7, 16, 64])
def test_permuted_reads_in_any_chunks(tmp_path: Path, chunk: int) -> None:
    values = np.random.default_rng(1).normal(size=(64, 12)).astype(np.float32)
    src, fd = _source(tmp_path, values, "F32", n_heads=4)
    try:
        got = np.concatenate([src.read(s, min(s + chunk, 64)) for s in range(0, 64, chunk)])
    finally:
        os.close(fd)
    np.testing.assert_array_equal(got, _llama_cpp_permute(values, 4))


def test_permuted_bias_vector(tmp_path: Path) -> None:
    values = np.arange(32, dtype=np.float32)
    src, fd = _source(tmp_path, values, "BF16", n_heads=2)
    try:
        np.testing.assert_array_equal(src.read(0, 1)[0], _llama_cpp_permute(values, 2))
    finally:
        os.close(fd)


def test_reads_stay_within_a_head_of_the_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = rows_module.os.pread

    def spy(fd: int, n: int, offset: int) -> bytes:
        sizes.append(n)
        return real(fd, n, offset)

    monkeypatch.setattr(rows_module.os, "pread", spy)
    values = np.zeros((256, 8), dtype=np.float32)
    src, fd = _source(tmp_path, values, "F32", n_heads=8)  # 32 rows per head
    try:
        for s in range(0, 256, 4):
            src.read(s, s + 4)
    finally:
        os.close(fd)
    assert max(sizes) <= (4 + 32) * 8 * 4


def test_gemma_shift_is_float16_arithmetic_for_f16(tmp_path: Path) -> None:
    values = np.array([[0.0004, -0.0004, 0.5, 2.0]], dtype=np.float32)
    src, fd = _source(tmp_path, values, "F16", shift=True)
    try:
        got = src.read(0, 1)
    finally:
        os.close(fd)
    expected = (values.astype(np.float16) + np.float16(1)).astype(np.float32)
    np.testing.assert_array_equal(got, expected)
    assert got[0, 0] == 1.0  # 1.0004 is not a float16


def test_bf16_widening_and_shift(tmp_path: Path) -> None:
    values = np.array([[0.0004, 1.5, -3.0]], dtype=np.float32)
    src, fd = _source(tmp_path, values, "BF16", shift=True)
    try:
        got = src.read(0, 1)
    finally:
        os.close(fd)
    widened = (bf16_bits(values).astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(got, widened + np.float32(1))
    assert got.dtype == np.float32 and got.flags.c_contiguous


def _widened(stored: np.ndarray, dtype: str, row_len: int) -> np.ndarray:
    if dtype == "F32":
        return stored.view("<f4").reshape(-1, row_len)
    if dtype == "F16":
        return stored.view("<f2").astype(np.float32).reshape(-1, row_len)
    return (stored.view("<u2").astype(np.uint32) << 16).view(np.float32).reshape(-1, row_len)


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
@pytest.mark.parametrize("n_heads, shape", [(0, (64, 12)), (4, (64, 12)), (2, (1, 16))])
def test_stored_rows_widen_to_the_read_rows(tmp_path: Path, dtype: str, n_heads: int, shape: tuple[int, int]) -> None:
    """What the GPU uploads (stored bytes, permuted) widens bit for bit to what the CPU path reads."""
    values = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    src, fd = _source(tmp_path, values if shape[0] > 1 else values[0], dtype, n_heads=n_heads)
    try:
        assert src.stored_type is not None and src.stored_type.name == dtype
        for start, stop in [(0, shape[0]), (shape[0] // 2, shape[0])] if shape[0] > 1 else [(0, 1)]:
            stored = src.read_stored(start, stop)
            assert stored.dtype == np.uint8 and stored.shape[0] == stop - start
            assert (_widened(stored, dtype, shape[1]).view(np.uint32) == src.read(start, stop).view(np.uint32)).all()
    finally:
        os.close(fd)


def test_shifted_rows_have_no_stored_form(tmp_path: Path) -> None:
    src, fd = _source(tmp_path, np.ones(8, dtype=np.float32), "BF16", shift=True)
    os.close(fd)
    assert src.stored_type is None
    with pytest.raises(ValueError):
        src.read_stored(0, 1)
