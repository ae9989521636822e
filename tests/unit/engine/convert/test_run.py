"""GGUF -> GGUF conversion end to end: byte-identical to llama-quantize, atomic, cancellable."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFValueType

from engine.convert.gguf_source import open_gguf_source
from engine.convert.plan import make_plan
from engine.convert.run import execute
from engine.errors import CancelledError, InvalidValuesError, OutOfDiskError, UsageError
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_write import GGUFStreamWriter, MetaValue, TensorSlot
from engine.progress import CancelToken, Progress
from tests.conftest import GOLDEN

SOURCE = GOLDEN / "requant" / "synth-a-f32.gguf"
REFERENCE = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_requant_is_byte_identical_to_llama_quantize(tmp_path: Path) -> None:
    before = sha(SOURCE)
    with open_gguf_source(SOURCE) as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf", mark_quantized_by=False)
        execute(plan, source, threads=2)
    assert (tmp_path / "out.gguf").read_bytes() == REFERENCE.read_bytes()
    assert sha(SOURCE) == before


def test_quantized_by_is_the_only_extra_key(tmp_path: Path) -> None:
    with open_gguf_source(SOURCE) as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf")
        execute(plan, source)
    ours, ref = read_gguf(tmp_path / "out.gguf"), read_gguf(REFERENCE)
    assert ours.get("general.quantized_by") == "Quantpick"
    assert {k: v for k, v in ours.fields.items() if k != "general.quantized_by"} == dict(ref.fields)
    for t in ref.tensors:
        assert np.array_equal(ours.raw(t.name), ref.raw(t.name)), t.name


def test_progress_reaches_the_total(tmp_path: Path) -> None:
    seen: list[Progress] = []
    with open_gguf_source(SOURCE) as source:
        plan = make_plan(source, "Q8_0", output=tmp_path / "out.gguf")
        execute(plan, source, progress=seen.append)
    assert seen[-1].done == seen[-1].total == plan.bytes_to_process
    assert all(a.done <= b.done for a, b in zip(seen, seen[1:]))


def test_cancel_leaves_no_file(tmp_path: Path) -> None:
    token = CancelToken()

    def cancel_half_way(p: Progress) -> None:
        if p.fraction > 0.5:
            token.cancel()

    with open_gguf_source(SOURCE) as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf")
        with pytest.raises(CancelledError):
            execute(plan, source, progress=cancel_half_way, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_write = GGUFStreamWriter.write

    def failing_write(self: GGUFStreamWriter, chunk: object) -> None:
        calls["n"] += 1
        if calls["n"] == 7:
            self._guarded(_raise_enospc)
        real_write(self, chunk)

    monkeypatch.setattr(GGUFStreamWriter, "write", failing_write)
    with open_gguf_source(SOURCE) as source:
        plan = make_plan(source, "Q4_K_M", output=tmp_path / "out.gguf")
        with pytest.raises(OutOfDiskError):
            execute(plan, source)
    assert list(tmp_path.iterdir()) == []


def _raise_enospc() -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_already_quantized_needs_permission(tmp_path: Path) -> None:
    with open_gguf_source(REFERENCE) as source:
        with pytest.raises(UsageError, match="already quantized"):
            make_plan(source, "Q8_0", output=tmp_path / "out.gguf")
        plan = make_plan(source, "Q8_0", output=tmp_path / "out.gguf", allow_requantize=True)
        execute(plan, source)
    assert read_gguf(tmp_path / "out.gguf").get("general.file_type") == 7


def _write_f32_model(path: Path, weights: np.ndarray) -> None:
    meta = [("general.architecture", MetaValue(GGUFValueType.STRING, "llama")),
            ("llama.block_count", MetaValue(GGUFValueType.UINT32, 1))]
    slots = [TensorSlot("blk.0.ffn_up.weight", (weights.shape[1], weights.shape[0]), GGMLType.F32)]
    with GGUFStreamWriter(path, meta, slots) as w:
        w.write(weights.astype(np.float32))


def test_values_beyond_f16_stop_with_the_tensor_named(tmp_path: Path) -> None:
    weights = np.ones((4, 256), np.float32)
    weights[2, 5] = 1e6  # a Q8_0 scale of 1e6/127 still fits; F16 cannot hold 1e6
    _write_f32_model(tmp_path / "in.gguf", weights)
    with open_gguf_source(tmp_path / "in.gguf") as source:
        plan = make_plan(source, "F16", output=tmp_path / "out.gguf")
        with pytest.raises(InvalidValuesError, match="blk.0.ffn_up.weight"):
            execute(plan, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gguf"]


def test_missing_output_folder_is_a_plain_error(tmp_path: Path) -> None:
    with open_gguf_source(SOURCE) as source:
        with pytest.raises(UsageError, match="does not exist"):
            make_plan(source, "Q8_0", output=tmp_path / "nowhere" / "out.gguf")
