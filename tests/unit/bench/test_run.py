"""The bench harness: its table, its synthetic GGUF and a tiny end-to-end run without llama-quantize."""

from __future__ import annotations

import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

import bench.run as run_mod
from bench.llama import write_synthetic_gguf
from bench.report import BenchSetup, TypeResult, table_lines
from bench.run import main
from bench.timing import best_time
from bench.workload import ROW_LENGTH, TENSOR_NAME, make_rows, parse_type


def test_make_rows_size_and_shape() -> None:
    rows = make_rows(1)
    assert rows.dtype == np.float32 and rows.shape == (64, ROW_LENGTH)
    assert make_rows(64).nbytes == 64 << 20


def test_parse_type_is_case_insensitive_and_strict() -> None:
    assert parse_type("q4_k") == "Q4_K"
    with pytest.raises(ValueError):
        parse_type("Q4_K_M")


def test_synthetic_gguf_holds_the_tensor(tmp_path: Path) -> None:
    rows = make_rows(0.25)
    write_synthetic_gguf(tmp_path / "in.gguf", rows)
    reader = gguf.GGUFReader(tmp_path / "in.gguf")
    (tensor,) = reader.tensors
    assert tensor.name == TENSOR_NAME and tensor.tensor_type == gguf.GGMLQuantizationType.F32
    assert np.array_equal(np.asarray(tensor.data).reshape(rows.shape), rows)
    arch = reader.get_field("general.architecture")
    assert arch is not None and arch.contents() == "llama"


def test_best_time_stops_at_budget() -> None:
    calls: list[int] = []
    assert best_time(lambda: calls.append(1), repeat=50, budget_s=0.0) >= 0
    assert len(calls) == 1
    best_time(lambda: calls.append(1), repeat=3, budget_s=1e9)
    assert len(calls) == 4


def test_table_ratio_marks_targets() -> None:
    setup = BenchSetup(n_rows=1000, n_per_row=1000, threads=(1,), llama_build="b1", baseline_s={1: 0.1})
    results = [
        TypeResult("Q4_K", True, {1: 1.0}, {1: 0.4}, True),  # ratio 0.4 < 0.5
        TypeResult("Q8_0", True, {1: 0.5}, {1: 0.5}, False),  # ratio 1.0 >= 1.0
        TypeResult("IQ4_NL", False, {}, {1: 0.2}, None),
    ]
    rows = table_lines(setup, results)[2:]
    assert rows[0] == "| Q4_K | 1.00 | 2.50 | 0.40 ✗ | >= 0.5 | identical |"
    assert rows[1] == "| Q8_0 | 2.00 | 2.00 | 1.00 ✓ | >= 1 | **differ** |"
    assert rows[2] == "| IQ4_NL | not implemented | 5.00 | — | — | — |"


def test_end_to_end_without_llama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_QUANTIZE", raising=False)
    out = tmp_path / "results.md"
    assert main(["--out", str(out), "--types", "f16", "BF16", "--mib", "0.25", "--threads", "1", "2",
                 "--repeat", "1"]) == 0
    text = out.read_text()
    assert "| F16 |" in text and "| BF16 |" in text and "ours 2T" in text
    assert "not implemented" not in text.split("| F16 |")[1].splitlines()[0]


FAKE_LLAMA = """#!{python}
import sys
import gguf
import numpy as np
from engine.quant import quantize

_, pure, src, out, type_name, threads = sys.argv
assert pure == "--pure" and int(threads) >= 1
print("version: 0.0-fake (build 7, commit abc)", file=sys.stderr)
if out != "/dev/null":
    (t,) = gguf.GGUFReader(src).tensors
    rows = np.asarray(t.data).reshape(int(t.shape[1]), int(t.shape[0]))
    data = quantize(rows, type_name)
    if {corrupt}:
        data[0, 0] ^= 1
    w = gguf.GGUFWriter(out, "llama")
    w.add_tensor(t.name, data, raw_dtype=gguf.GGMLQuantizationType[type_name])
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"""


@pytest.mark.parametrize("corrupt", [False, True])
def test_end_to_end_with_a_fake_llama_quantize(tmp_path: Path, corrupt: bool) -> None:
    fake = tmp_path / "llama-quantize"
    fake.write_text(FAKE_LLAMA.format(python=sys.executable, corrupt=corrupt))
    fake.chmod(0o755)
    out = tmp_path / "results.md"
    args = ["--out", str(out), "--types", "F16", "--mib", "0.25", "--threads", "1", "--repeat", "1",
            "--llama-repeat", "1", "--llama-quantize", str(fake)]
    assert main(args) == 0
    text = out.read_text()
    assert "0.0-fake (build 7, commit abc)" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| F16 |"))
    assert row.endswith("| **differ** |" if corrupt else "| identical |")


def test_a_failing_kernel_is_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("kernel under construction")

    monkeypatch.setattr(run_mod, "time_ours", boom)
    monkeypatch.delenv("LLAMA_QUANTIZE", raising=False)
    out = tmp_path / "results.md"
    assert main(["--out", str(out), "--types", "F16", "--mib", "0.25", "--threads", "1"]) == 0
    text = out.read_text()
    assert "| F16 | failed |" in text and "RuntimeError: kernel under construction" in text
