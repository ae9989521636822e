"""Importance-matrix reader: both file formats, llama-quantize's arithmetic and metadata, strict refusals."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from gguf import GGUFValueType

from engine.errors import CorruptInputError, UsageError
from engine.quant.imatrix import Imatrix, read_imatrix
from tests.conftest import GOLDEN

F = np.float32


def write_gguf_imatrix(
    path: Path,
    entries: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    datasets: Sequence[str] = ("calib.txt",),
    chunk_count: int = 7,
    kind: str | None = "imatrix",
    omit: Sequence[str] = (),
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """A GGUF imatrix as llama-imatrix writes it: sums (n_mat, n_cols) and counts (n_mat,) per weight."""
    w = gguf.GGUFWriter(str(path), "llama")
    if kind is not None:
        w.add_type(kind)
    if "imatrix.datasets" not in omit:
        w.add_array("imatrix.datasets", list(datasets))
    if "imatrix.chunk_count" not in omit:
        w.add_uint32("imatrix.chunk_count", chunk_count)
    if "imatrix.chunk_size" not in omit:
        w.add_uint32("imatrix.chunk_size", 512)
    for name, (sums, counts) in entries.items():
        w.add_tensor(f"{name}.in_sum2", np.asarray(sums))
        w.add_tensor(f"{name}.counts", np.asarray(counts).reshape(-1, 1))
    for name, arr in (extra or {}).items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def legacy_bytes(entries: Sequence[tuple[bytes, int, np.ndarray]], trailer: tuple[int, bytes] | None) -> bytes:
    """The legacy .dat stream: count, then (name, ncall, nval, values) per entry, optional trailer."""
    out = struct.pack("<i", len(entries))
    for name, ncall, values in entries:
        out += struct.pack("<i", len(name)) + name + struct.pack("<ii", ncall, len(values))
        out += np.asarray(values, dtype="<f4").tobytes()
    if trailer is not None:
        out += struct.pack("<ii", trailer[0], len(trailer[1])) + trailer[1]
    return out


def meta(imx: Imatrix) -> list[tuple[str, GGUFValueType, Any]]:
    return [(k, v.vtype, v.value) for k, v in imx.metadata()]


# -- GGUF ------------------------------------------------------------------------------------------
def test_reads_the_golden_imatrix_like_llama_quantize() -> None:
    path = GOLDEN / "imatrix" / "imatrix.gguf"
    imx = read_imatrix(path)
    tensors = {t.name: np.array(t.data) for t in gguf.GGUFReader(path).tensors}
    names = sorted(n[: -len(".in_sum2")] for n in tensors if n.endswith(".in_sum2"))
    assert list(imx.weights) == names
    for name in names:
        expected = tensors[f"{name}.in_sum2"].reshape(-1) / F(tensors[f"{name}.counts"].reshape(-1)[0])
        assert imx.weights[name].dtype == np.float32
        assert np.array_equal(imx.weights[name], expected)
    assert (imx.datasets, imx.chunk_count, imx.chunk_size) == (("calib.txt",), 7, 512)
    assert meta(imx) == [
        ("quantize.imatrix.file", GGUFValueType.STRING, str(path)),
        ("quantize.imatrix.dataset", GGUFValueType.STRING, "calib.txt"),
        ("quantize.imatrix.entries_count", GGUFValueType.UINT32, 8),
        ("quantize.imatrix.chunks_count", GGUFValueType.UINT32, 7),
    ]


def test_counts_are_rounded_and_a_zero_count_means_all_ones(tmp_path: Path) -> None:
    sums = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], dtype=F)
    counts = np.array([2.5, 0.4, 3.0], dtype=F)  # lround: 3, 0, 3
    imx = read_imatrix(write_gguf_imatrix(tmp_path / "m.gguf", {"blk.0.ffn_down_exps.weight": (sums, counts)}))
    got = imx.weights["blk.0.ffn_down_exps.weight"]
    assert np.array_equal(got, np.concatenate([sums[0] / F(3), np.ones(3, F), sums[2] / F(3)]))
    assert imx.for_tensor("blk.0.ffn_down_exps.weight", 3, n_mat=3) is got


def test_weights_cannot_be_modified(tmp_path: Path) -> None:
    imx = read_imatrix(GOLDEN / "imatrix" / "imatrix.gguf")
    w = next(iter(imx.weights.values()))
    with pytest.raises(ValueError):
        w[0] = 1.0
    with pytest.raises(TypeError):
        imx.weights["x"] = w  # type: ignore[index]


@pytest.mark.parametrize("key", ["imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"])
def test_gguf_without_required_metadata_is_refused(tmp_path: Path, key: str) -> None:
    path = write_gguf_imatrix(tmp_path / "m.gguf", {"a.weight": (np.ones((1, 4), F), np.ones(1, F))}, omit=[key])
    with pytest.raises(CorruptInputError, match=key.replace(".", r"\.")):
        read_imatrix(path)


def _one(**kw: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"a.weight": (kw.get("sums", np.ones((1, 4), F)), kw.get("counts", np.ones(1, F)))}


@pytest.mark.parametrize(
    ("entries", "options", "match"),
    [
        (_one(), {"kind": "model"}, "not an importance matrix"),
        ({}, {}, "no tensors"),
        (_one(sums=np.array([[1.0, np.nan, 2.0, 3.0]], F)), {}, "NaN or infinite"),
        (_one(sums=np.array([[1.0, np.inf, 2.0, 3.0]], F)), {}, "NaN or infinite"),
        (_one(counts=np.array([-2.0], F)), {}, "negative or not finite"),
        (_one(counts=np.array([np.nan], F)), {}, "negative or not finite"),
        (_one(sums=np.ones((2, 4), F)), {}, "2 matrices"),
        (_one(sums=np.ones((1, 4), np.float16)), {}, "not F32"),
    ],
)
def test_inconsistent_gguf_imatrix_is_refused(
    tmp_path: Path, entries: dict[str, Any], options: dict[str, Any], match: str
) -> None:
    path = write_gguf_imatrix(tmp_path / "m.gguf", entries, **options)
    with pytest.raises(CorruptInputError, match=match):
        read_imatrix(path)


def test_sums_without_counts_are_refused(tmp_path: Path) -> None:
    path = write_gguf_imatrix(tmp_path / "m.gguf", {}, extra={"a.weight.in_sum2": np.ones((1, 4), F)})
    with pytest.raises(CorruptInputError, match="a.weight has sums but no matching partner"):
        read_imatrix(path)


def test_other_tensors_are_ignored(tmp_path: Path) -> None:
    path = write_gguf_imatrix(tmp_path / "m.gguf", _one(), extra={"note": np.ones(4, F)})
    assert list(read_imatrix(path).weights) == ["a.weight"]


def test_a_damaged_gguf_is_refused(tmp_path: Path) -> None:
    good = (GOLDEN / "imatrix" / "imatrix.gguf").read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptInputError):
        read_imatrix(path)


# -- legacy .dat -----------------------------------------------------------------------------------
def test_reads_a_legacy_file_with_trailer(tmp_path: Path) -> None:
    values = np.array([3.0, 6.0, 1.0], dtype=F)
    path = tmp_path / "imatrix.dat"
    path.write_bytes(legacy_bytes([(b"b.weight", 3, values), (b"a.weight", 0, values)], (12, b"wiki.train")))
    imx = read_imatrix(path)
    assert list(imx.weights) == ["a.weight", "b.weight"]
    assert np.array_equal(imx.weights["b.weight"], values / F(3))
    assert np.array_equal(imx.weights["a.weight"], values)  # ncall 0: the values as stored
    assert (imx.datasets, imx.chunk_count, imx.chunk_size) == (("wiki.train",), 12, None)
    assert meta(imx) == [
        ("quantize.imatrix.file", GGUFValueType.STRING, str(path)),
        ("quantize.imatrix.dataset", GGUFValueType.STRING, "wiki.train"),
        ("quantize.imatrix.entries_count", GGUFValueType.UINT32, 2),
        ("quantize.imatrix.chunks_count", GGUFValueType.UINT32, 12),
    ]


def test_reads_a_legacy_file_without_trailer(tmp_path: Path) -> None:
    path = tmp_path / "old.dat"
    path.write_bytes(legacy_bytes([(b"a.weight", 2, np.array([1.0, 2.0], F))], None))
    imx = read_imatrix(path)
    assert (imx.datasets, imx.chunk_count) == ((), 0)
    assert [k for k, _, _ in meta(imx)] == ["quantize.imatrix.file", "quantize.imatrix.entries_count"]


GOOD = legacy_bytes([(b"a.weight", 1, np.ones(4, F))], (1, b"d"))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "no entries"),
        (struct.pack("<i", 0), "no entries"),
        (GOOD[:-3], "dataset name"),
        (GOOD[:20], "value count of a.weight"),
        (GOOD[:26], "values of a.weight"),
        (GOOD[:6], "name length of entry #1"),
        (GOOD + b"\0", "unexpected bytes"),
        (GOOD[:-9] + b"\1\0", "chunk count needs 4 bytes"),
        (GOOD[:-5] + b"\1\0", "dataset name length"),
        (legacy_bytes([(b"a.weight", 1, np.ones(4, F))], (-1, b"d")), "chunk count is -1"),
        (struct.pack("<ii", 1, -5), "name of entry #1"),
        (legacy_bytes([(b"a.weight", 1, np.array([], F))], None), "claims 0 values"),
        (legacy_bytes([(b"a.weight", 1, np.array([1.0, np.nan], F))], None), "NaN or infinite"),
        (legacy_bytes([(b"a", 1, np.ones(2, F)), (b"a", 1, np.ones(2, F))], None), "appears twice"),
        (legacy_bytes([(b"\xff\xfe", 1, np.ones(2, F))], None), "not valid UTF-8"),
        (legacy_bytes([(b"a\0b", 1, np.ones(2, F))], None), "NUL"),
    ],
)
def test_damaged_legacy_files_are_refused(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "bad.dat"
    path.write_bytes(data)
    with pytest.raises(CorruptInputError, match=match):
        read_imatrix(path)


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        read_imatrix(tmp_path / "nope.dat")


# -- selection, lookup and metadata ----------------------------------------------------------------
@pytest.fixture
def three(tmp_path: Path) -> Imatrix:
    path = tmp_path / "three.dat"
    names = [b"blk.0.attn_q.weight", b"blk.0.ffn_up.weight", b"token_embd.weight"]
    path.write_bytes(legacy_bytes([(n, 1, np.ones(8, F)) for n in names], (4, b"d")))
    return read_imatrix(path)


def test_include_and_exclude_select_by_substring(three: Imatrix) -> None:
    assert list(three.select(include=["ffn", "attn_q"]).weights) == ["blk.0.attn_q.weight", "blk.0.ffn_up.weight"]
    assert list(three.select(exclude=["blk.0"]).weights) == ["token_embd.weight"]
    assert {k: v for k, _, v in meta(three.select(exclude=["blk"]))}["quantize.imatrix.entries_count"] == 1
    assert three.select(include=["nothing"]).metadata() == ()
    with pytest.raises(UsageError):
        three.select(include=["a"], exclude=["b"])


def test_lookup_follows_llama_quantize(three: Imatrix) -> None:
    assert three.for_tensor("blk.0.ffn_up.weight", 8) is three.weights["blk.0.ffn_up.weight"]
    assert three.for_tensor("output.weight", 8) is None
    assert three.for_tensor("token_embd.weight", 16) is None  # wrong size: quantized without one
    with pytest.raises(UsageError, match="has 8 values for blk.0.attn_q.weight"):
        three.for_tensor("blk.0.attn_q.weight", 16)


def test_the_recorded_path_is_cut_to_127_bytes(tmp_path: Path) -> None:
    folder = tmp_path / ("é" * 60)  # 120 bytes of UTF-8
    folder.mkdir()
    path = folder / "imatrix.dat"
    path.write_bytes(GOOD)
    recorded = read_imatrix(str(path)).file
    raw = str(path).encode()
    assert len(raw) > 127
    assert (recorded.encode() if isinstance(recorded, str) else recorded) == raw[:127]


def test_the_path_is_recorded_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.dat").write_bytes(GOOD)
    monkeypatch.chdir(tmp_path)
    assert read_imatrix("./sub/../sub/m.dat").file == "./sub/../sub/m.dat"


def test_a_path_that_is_not_utf8_is_recorded_as_its_bytes(tmp_path: Path) -> None:
    raw = bytes(tmp_path) + b"/m\xff.dat"
    try:
        Path(os.fsdecode(raw)).write_bytes(GOOD)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    assert read_imatrix(os.fsdecode(raw)).file == raw[:127]
