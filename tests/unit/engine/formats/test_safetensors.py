"""The safetensors parser maps tensors without copying and refuses every inconsistent header."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CorruptInputError, QuantpickError, UnsupportedInputError
from engine.formats.safetensors import MAX_HEADER_BYTES, parse_header, read_safetensors, widen_bf16
from tests.unit.engine.formats.builders import bf16_bits, safetensors_bytes, safetensors_from_arrays, write

F32 = np.array([[1.5, -2.0, 3.25], [0.0, 1e-3, -7.0]], dtype=np.float32)


def sample_file(tmp_path: Path) -> Path:
    return write(tmp_path / "s.safetensors", safetensors_from_arrays({
        "w": ("F32", F32),
        "h": ("F16", F32.astype(np.float16)),
        "b": ("BF16", bf16_bits(F32)),
        "i": ("I64", np.arange(5, dtype=np.int64)),
        "m": ("BOOL", np.array([True, False, True])),
        "e": ("F32", np.zeros((0, 4), dtype=np.float32)),
    }, metadata={"format": "pt"}))


def test_reads_every_dtype_as_zero_copy_views(tmp_path: Path) -> None:
    f = read_safetensors(sample_file(tmp_path))
    assert f.metadata == {"format": "pt"}
    assert [t.name for t in f.tensors] == ["w", "h", "b", "i", "m", "e"]
    w = f.view("w")
    assert isinstance(w, np.memmap) and not w.flags.writeable
    np.testing.assert_array_equal(w, F32)
    np.testing.assert_array_equal(f.view("h"), F32.astype(np.float16))
    assert f.view("b").dtype == np.uint16
    np.testing.assert_array_equal(f.view("i"), np.arange(5))
    np.testing.assert_array_equal(f.view("m"), [True, False, True])
    assert f.view("e").shape == (0, 4)
    assert f.tensor("w").nbytes == 24 and f.tensor("w").n_elements == 6


def test_bf16_widens_to_float32_by_shift(tmp_path: Path) -> None:
    f = read_safetensors(sample_file(tmp_path))
    exact = widen_bf16(bf16_bits(F32))
    np.testing.assert_array_equal(f.to_float32("b"), exact)
    np.testing.assert_array_equal(exact[0], [1.5, -2.0, 3.25])  # values exact in bfloat16 survive
    assert f.to_float32("b").dtype == np.float32
    np.testing.assert_array_equal(f.to_float32("h"), F32.astype(np.float16).astype(np.float32))


def test_f8_widening(tmp_path: Path) -> None:
    codes = np.array([0x38, 0x7E, 0xB8, 0x01, 0x7F], dtype=np.uint8)
    path = write(tmp_path / "f8.safetensors", safetensors_from_arrays({
        "a": ("F8_E4M3", codes), "b": ("F8_E5M2", np.array([0x3C, 0x7B, 0xC0], dtype=np.uint8)),
    }))
    f = read_safetensors(path)
    a = f.to_float32("a")
    np.testing.assert_array_equal(a[:4], [1.0, 448.0, -1.0, 2.0**-9])
    assert np.isnan(a[4])
    np.testing.assert_array_equal(f.to_float32("b"), [1.0, 57344.0, -2.0])


def _entry(dtype: str = "F32", shape: Any = (2,), offsets: Any = (0, 8)) -> dict[str, Any]:
    return {"dtype": dtype, "shape": list(shape) if isinstance(shape, tuple) else shape,
            "data_offsets": list(offsets) if isinstance(offsets, tuple) else offsets}


CORRUPT = {
    "not json": (b"{not json", b"", "not valid JSON"),
    "not utf-8": (b'{"\xff": 1}', b"", "not UTF-8"),
    "json array": ([1, 2], b"", "JSON list, not an object"),
    "duplicate key": (b'{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
                      b'"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', b"", "appears twice"),
    "NaN constant": (b'{"__metadata__": {"x": NaN}}', b"", "NaN is not valid JSON"),
    "metadata not strings": ({"__metadata__": {"x": 1}}, b"", "__metadata__ must map names to strings"),
    "unknown dtype": ({"t": _entry(dtype="Q4")}, b"\0" * 8, "unknown dtype 'Q4'"),
    "dtype not a string": ({"t": _entry(dtype=7)}, b"\0" * 8, "unknown dtype 7"),
    "negative dim": ({"t": _entry(shape=(-2,))}, b"\0" * 8, "non-negative integers"),
    "float dim": ({"t": _entry(shape=[2.0])}, b"\0" * 8, "non-negative integers"),
    "bool dim": ({"t": _entry(shape=[True])}, b"\0" * 4, "non-negative integers"),
    "shape not a list": ({"t": _entry(shape=2)}, b"\0" * 8, "non-negative integers"),
    "three offsets": ({"t": _entry(offsets=[0, 4, 8])}, b"\0" * 8, "two non-negative integers"),
    "negative offset": ({"t": _entry(offsets=(-8, 0))}, b"\0" * 8, "two non-negative integers"),
    "size does not match shape": ({"t": _entry(shape=(3,))}, b"\0" * 8, "needs 12 bytes"),
    "end before start": ({"t": _entry(offsets=(8, 0))}, b"\0" * 8, "needs 8 bytes"),
    "huge shape": ({"t": _entry(shape=[1 << 62, 1 << 62, 1 << 62])}, b"\0" * 8, "needs"),
    "offsets past the end": ({"t": _entry(offsets=(0, 8))}, b"\0" * 4, "cover 8 bytes of data, but the file holds 4"),
    "gap": ({"a": _entry(), "b": _entry(offsets=(12, 20))}, b"\0" * 20, "leaves a gap at byte 8"),
    "overlap": ({"a": _entry(), "b": _entry(offsets=(4, 12))}, b"\0" * 12, "overlaps the tensor before it"),
    "trailing bytes": ({"a": _entry()}, b"\0" * 12, "cover 8 bytes of data, but the file holds 12"),
    "not starting at zero": ({"a": _entry(offsets=(4, 12))}, b"\0" * 12, "leaves a gap at byte 0"),
    "extra entry key": ({"a": {**_entry(), "extra": 1}}, b"\0" * 8, "exactly the keys"),
    "entry not an object": ({"a": [1]}, b"", "exactly the keys"),
    "empty name": ({"": _entry()}, b"\0" * 8, "empty name"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, b"", "not valid JSON"),
}


@pytest.mark.parametrize("case", CORRUPT, ids=list(CORRUPT))
def test_bad_headers_are_corrupt_input(tmp_path: Path, case: str) -> None:
    header, data, fragment = CORRUPT[case]
    path = write(tmp_path / "bad.safetensors", safetensors_bytes(header, data))
    with pytest.raises(CorruptInputError) as info:
        read_safetensors(path)
    assert fragment in str(info.value)
    assert "bad.safetensors" in str(info.value)


@pytest.mark.parametrize("dtype", ["F64", "U32", "F8_E8M0"])
def test_known_but_unsupported_dtypes(tmp_path: Path, dtype: str) -> None:
    path = write(tmp_path / "u.safetensors", safetensors_bytes({"t": _entry(dtype=dtype, shape=(1,))}, b"\0" * 8))
    with pytest.raises(UnsupportedInputError, match=f"stored as {dtype}"):
        read_safetensors(path)


def test_header_length_bounds(tmp_path: Path) -> None:
    with pytest.raises(CorruptInputError, match="only 3 bytes"):
        read_safetensors(write(tmp_path / "a.safetensors", b"\x01\x00\x00"))
    with pytest.raises(CorruptInputError, match="100,000,000-byte limit"):
        read_safetensors(write(tmp_path / "b.safetensors", struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}"))
    with pytest.raises(CorruptInputError, match="claims 4096 bytes, but only 8 bytes follow"):
        read_safetensors(write(tmp_path / "c.safetensors", safetensors_bytes({}, b"", length=4096)))
    with pytest.raises(CorruptInputError, match="claims 18446744073709551615"):
        read_safetensors(write(tmp_path / "d.safetensors", b"\xff" * 8 + b"{}"))


def test_every_truncation_is_corrupt_input(tmp_path: Path) -> None:
    full = safetensors_from_arrays({"w": ("F32", F32), "b": ("BF16", bf16_bits(F32))})
    path = tmp_path / "cut.safetensors"
    for cut in range(len(full)):
        path.write_bytes(full[:cut])
        with pytest.raises(CorruptInputError):
            read_safetensors(path)


def test_parser_takes_bytes_for_http_ranges() -> None:
    header = json.dumps({"t": _entry()}).encode()
    parsed = parse_header(header, 8, source="remote")
    assert parsed.tensors[0].name == "t" and parsed.tensors[0].shape == (2,)
    with pytest.raises(CorruptInputError, match="remote is not a valid safetensors file"):
        parse_header(header, 9, source="remote")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bytes_never_escape_as_other_errors(tmp_path: Path, data: st.DataObject) -> None:
    raw = bytearray(safetensors_from_arrays({"w": ("F32", F32), "i": ("I32", np.arange(3, dtype=np.int32))}))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = write(tmp_path / "fuzz.safetensors", bytes(raw[: data.draw(st.integers(0, len(raw)))]))
    try:
        f = read_safetensors(path)
    except QuantpickError:
        return
    for t in f.tensors:
        assert f.view(t.name).nbytes == t.nbytes
