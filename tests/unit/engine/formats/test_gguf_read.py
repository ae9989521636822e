"""The GGUF reader agrees with gguf-py on real files and refuses every kind of damaged header."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CorruptInputError, QuantpickError, UnsupportedInputError
from engine.formats.gguf_read import read_gguf
from tests.conftest import GOLDEN
from tests.unit.engine.formats.builders import (
    A_VALUES, ARRAY, B_VALUES, STRING, U32, U64, base_gguf, base_kvs, gstr, kv,
    kv_str, kv_u32, tensor_info, write,
)

GOLDEN_GGUFS = sorted(GOLDEN.rglob("*.gguf"))


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("path", GOLDEN_GGUFS, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_golden_file_matches_gguf_py(path: Path) -> None:
    ours = read_gguf(path)
    ref = gguf.GGUFReader(path)
    ref_fields = {k: f for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    assert list(ours.fields) == list(ref_fields)
    for key, field in ref_fields.items():
        assert ours.fields[key].vtype == field.types[0], key
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            assert ours.fields[key].item_type == field.types[-1], key
        assert _plain(ours.fields[key].value) == field.contents(), key
    assert ours.data_offset == ref.data_offset
    assert ours.alignment == ref.alignment
    assert ours.file_size == path.stat().st_size
    assert len(ours.tensors) == len(ref.tensors)
    for mine, theirs in zip(ours.tensors, ref.tensors):
        assert mine.name == theirs.name
        assert list(mine.shape) == [int(d) for d in theirs.shape]
        assert mine.qtype == theirs.tensor_type
        assert ours.data_offset + mine.offset == theirs.data_offset
        assert mine.nbytes == theirs.n_bytes
        assert mine.n_elements == theirs.n_elements
        ours_bytes = ours.view(mine.name).view(np.uint8).ravel()
        assert np.array_equal(ours_bytes, np.asarray(theirs.data).view(np.uint8).ravel())


def test_views_are_typed_zero_copy_memmaps(tmp_path: Path) -> None:
    g = read_gguf(write(tmp_path / "m.gguf", base_gguf()))
    a = g.view("a")
    assert isinstance(a, np.memmap) and a.dtype == np.float32 and a.shape == (2, 4)
    assert not a.flags.writeable
    np.testing.assert_array_equal(a, A_VALUES)
    np.testing.assert_array_equal(g.view("b"), B_VALUES)
    assert g.raw("a").shape == (2, 16) and g.raw("a").dtype == np.uint8


def test_metadata_values_and_types(tmp_path: Path) -> None:
    g = read_gguf(write(tmp_path / "m.gguf", base_gguf()))
    assert g.version == 3 and g.alignment == 32 and g.data_offset % 32 == 0
    assert g.get("general.architecture") == "llama"
    assert g.get("llama.block_count") == 2
    assert g.fields["tokenizer.ggml.tokens"].value == ("a", "b", "<s>")
    assert g.fields["tokenizer.ggml.tokens"].item_type == gguf.GGUFValueType.STRING
    assert g.metadata["tokenizer.ggml.scores"] == (0.0, -1.0, 0.5)
    assert g.get("missing", 7) == 7


def test_version_2_reads(tmp_path: Path) -> None:
    assert read_gguf(write(tmp_path / "m.gguf", base_gguf(version=2))).version == 2


def test_non_utf8_string_value_is_kept_as_bytes(tmp_path: Path) -> None:
    kvs = base_kvs() + [kv_str("odd", b"\xff\xfe")]
    g = read_gguf(write(tmp_path / "m.gguf", base_gguf(kvs=kvs)))
    assert g.get("odd") == b"\xff\xfe"


def test_custom_alignment_is_honoured(tmp_path: Path) -> None:
    kvs = base_kvs() + [kv_u32("general.alignment", 64)]
    infos = [tensor_info("a", [4, 2], 0, 0), tensor_info("b", [8], 0, 64)]
    data = A_VALUES.tobytes() + b"\0" * 32 + B_VALUES.tobytes()
    g = read_gguf(write(tmp_path / "m.gguf", base_gguf(kvs=kvs, infos=infos, data=data, alignment=64)))
    assert g.alignment == 64 and g.data_offset % 64 == 0
    np.testing.assert_array_equal(g.view("b"), B_VALUES)


def _kvs_plus(*extra: bytes) -> list[bytes]:
    return base_kvs() + list(extra)


def _infos(*infos: bytes) -> list[bytes]:
    return list(infos)


CORRUPT_CASES = {
    "wrong magic": (dict(magic=b"GGUG"), "instead of b'GGUF'"),
    "absurd version": (dict(version=0xDEADBEEF), "version field"),
    "kv count larger than file": (dict(n_kv=1 << 40), "announces 1099511627776 metadata entries"),
    "tensor count larger than file": (dict(n_tensors=1 << 50), "tensors, more than"),
    "kv count lies by one": (dict(n_kv=7), "claims to be"),
    "huge key length": (dict(kvs=[struct.pack("<Q", 1 << 62) + b"k"]), "claims to be"),
    "string value longer than file": (dict(kvs=_kvs_plus(kv("s", STRING, struct.pack("<Q", 10_000) + b"x"))),
                                      "claims to be 10000 bytes"),
    "huge array count": (dict(kvs=_kvs_plus(kv("arr", ARRAY, struct.pack("<iQ", U32, 1 << 61)))), "claims"),
    "string array count lies": (dict(kvs=_kvs_plus(kv("arr", ARRAY, struct.pack("<iQ", STRING, 1000)))),
                                "claims 1000 elements"),
    "string element longer than file": (
        dict(kvs=_kvs_plus(kv("arr", ARRAY, struct.pack("<iQ", STRING, 2) + gstr("ab") + struct.pack("<Q", 1 << 40)))),
        "element 1 of 'arr' claims to be 1099511627776 bytes"),
    "array of arrays": (dict(kvs=_kvs_plus(kv("arr", ARRAY, struct.pack("<iQ", ARRAY, 0)))), "array of arrays"),
    "unknown value type": (dict(kvs=_kvs_plus(kv("x", 99, b"\0" * 8))), "unknown value type 99"),
    "unknown array element type": (dict(kvs=_kvs_plus(kv("x", ARRAY, struct.pack("<iQ", 42, 0)))),
                                   "unknown value type 42"),
    "duplicate key": (dict(kvs=_kvs_plus(kv_u32("llama.block_count", 3))), "appears twice"),
    "empty key": (dict(kvs=_kvs_plus(kv_u32("", 3))), "empty key"),
    "key not utf-8": (dict(kvs=_kvs_plus(kv_u32(b"\xff\xfe", 3))), "not valid UTF-8"),
    "alignment not a power of two": (dict(kvs=_kvs_plus(kv_u32("general.alignment", 48))), "power of two"),
    "alignment zero": (dict(kvs=_kvs_plus(kv_u32("general.alignment", 0))), "power of two"),
    "alignment wrong type": (dict(kvs=_kvs_plus(kv("general.alignment", U64, struct.pack("<Q", 32)))),
                             "must be a UINT32"),
    "tensor name too long": (dict(infos=_infos(tensor_info("n" * 64, [8], 0, 0))), "names must be 1 to 63"),
    "tensor name empty": (dict(infos=_infos(tensor_info("", [8], 0, 0))), "names must be 1 to 63"),
    "zero dimensions": (dict(infos=_infos(tensor_info("a", [], 0, 0))), "claims 0 dimensions"),
    "five dimensions": (dict(infos=_infos(tensor_info("a", [1, 1, 1, 1, 1], 0, 0))), "claims 5 dimensions"),
    "dimension zero": (dict(infos=_infos(tensor_info("a", [0, 2], 0, 0))), "not positive"),
    "negative dimension": (dict(infos=_infos(tensor_info("a", [4, -2], 0, 0))), "not positive"),
    "absurd tensor type": (dict(infos=_infos(tensor_info("a", [8], 100_000, 0))), "not a ggml tensor type"),
    "row not whole blocks": (dict(infos=_infos(tensor_info("a", [16, 1], 2, 0))), "not whole Q4_0 blocks"),
    "misaligned offset": (dict(infos=_infos(tensor_info("a", [4, 2], 0, 0), tensor_info("b", [8], 0, 40))),
                          "not a multiple of 32"),
    "offset past the end": (dict(infos=_infos(tensor_info("a", [4, 2], 0, 0), tensor_info("b", [8], 0, 64))),
                            "past the end of the file"),
    "size past the end": (dict(infos=_infos(tensor_info("a", [4, 2], 0, 0), tensor_info("b", [16], 0, 32))),
                          "past the end of the file"),
    "huge tensor": (dict(infos=_infos(tensor_info("a", [1 << 40, 1 << 20], 0, 0))), "past the end of the file"),
    "overlapping tensors": (dict(infos=_infos(tensor_info("a", [4, 4], 0, 0), tensor_info("b", [8], 0, 32))),
                            "overlap"),
    "duplicate tensor name": (dict(infos=_infos(tensor_info("a", [4, 2], 0, 0), tensor_info("a", [8], 0, 32))),
                              "appears twice"),
}


@pytest.mark.parametrize("case", CORRUPT_CASES, ids=list(CORRUPT_CASES))
def test_damaged_headers_are_corrupt_input(tmp_path: Path, case: str) -> None:
    overrides, fragment = CORRUPT_CASES[case]
    path = write(tmp_path / "bad.gguf", base_gguf(**dict(overrides)))
    with pytest.raises(CorruptInputError) as info:
        read_gguf(path)
    assert fragment in str(info.value)
    assert "bad.gguf" in str(info.value)


UNSUPPORTED_CASES = {
    "version 1": (dict(version=1), "version 1"),
    "future version": (dict(version=4), "version 4"),
    "big-endian": (dict(version=0x03000000), "big-endian"),
    "unknown tensor type": (dict(infos=_infos(tensor_info("a", [8], 99, 0))), "tensor type 99"),
    "retired tensor type": (dict(infos=_infos(tensor_info("a", [32], 4, 0))), "tensor type 4"),
}


@pytest.mark.parametrize("case", UNSUPPORTED_CASES, ids=list(UNSUPPORTED_CASES))
def test_valid_but_unsupported_files(tmp_path: Path, case: str) -> None:
    overrides, fragment = UNSUPPORTED_CASES[case]
    with pytest.raises(UnsupportedInputError) as info:
        read_gguf(write(tmp_path / "x.gguf", base_gguf(**dict(overrides))))
    assert fragment in str(info.value)


def test_every_truncation_is_corrupt_input(tmp_path: Path) -> None:
    full = base_gguf()
    path = tmp_path / "cut.gguf"
    for cut in range(len(full)):
        path.write_bytes(full[:cut])
        with pytest.raises(CorruptInputError):
            read_gguf(path)


def test_lying_counts_allocate_nothing(tmp_path: Path) -> None:
    lies = [
        base_gguf(n_kv=(1 << 63)),
        base_gguf(kvs=_kvs_plus(kv("arr", ARRAY, struct.pack("<iQ", U32, (1 << 30) - 1)))),
        base_gguf(kvs=[struct.pack("<Q", (1 << 30) - 1)]),
    ]
    for i, data in enumerate(lies):
        path = write(tmp_path / f"lie{i}.gguf", data)
        tracemalloc.start()
        with pytest.raises(CorruptInputError):
            read_gguf(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 1 << 20, f"case {i} allocated {peak} bytes"


def test_empty_file_is_corrupt(tmp_path: Path) -> None:
    with pytest.raises(CorruptInputError, match="only 0 bytes"):
        read_gguf(write(tmp_path / "e.gguf", b""))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bytes_never_escape_as_other_errors(tmp_path: Path, data: st.DataObject) -> None:
    raw = bytearray(base_gguf())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = write(tmp_path / "fuzz.gguf", bytes(raw))
    try:
        g = read_gguf(path)
    except QuantpickError:
        return
    for info in g.tensors:  # whatever parsed must be viewable within the file
        assert g.view(info.name).nbytes == info.nbytes


def test_longest_allowed_tensor_name(tmp_path: Path) -> None:
    infos = [tensor_info("x" * 63, [8], 0, 0)]
    g = read_gguf(write(tmp_path / "m.gguf", base_gguf(infos=infos, data=B_VALUES.tobytes())))
    assert g.tensors[0].name == "x" * 63
