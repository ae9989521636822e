"""bench.gpu: its table, its digests, and a whole run on a tiny model (the GPU runs go to the CPU here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import bench.gpu as gpu_mod
from bench.checkpoint import Shape
from bench.gpu import Row, Timed, best_of, read_limit, tensor_digest
from tests.conftest import GOLDEN

ROOT = Path(__file__).resolve().parents[3]
TINY = Shape(vocab=512, n_embd=256, n_ff=512, n_layer=2, n_head=4, n_head_kv=2)


def test_row_renders_speed_ups_and_identity() -> None:
    row = Row("1.1B", "GGUF BF16", "Q4_K_M", 0.3, Timed(1.0, 0.6), Timed(12.0, 11.0), Timed(11.0, None), True)
    assert row.render(16) == ("| 1.1B | GGUF BF16 | Q4_K_M | 0.30 | 1.00 (0.60) | 12.00 (11.00) | 11.00 | 11.0x | "
                              "12.0x | 3.3x | yes |")
    lone = Row("1.1B", "HF folder", "Q8_0", 0.5, Timed(2.0, 1.0), None, None, None)
    assert lone.render(16).endswith("| - | - | - | - | 4.0x | - |")
    assert "**NO**" in Row("7B", "HF folder", "Q8_0", 1, Timed(1, 1), None, None, False).render(1)


def test_best_of_keeps_the_fastest_and_reads_json(tmp_path: Path) -> None:
    out = tmp_path / "out.gguf"
    timed = best_of([sys.executable, "-c", "print('{\"seconds\": 0.25}')"], 2, out)
    assert timed.inner_s == 0.25 and timed.wall_s > 0
    assert best_of([sys.executable, "-c", "pass"], 1, out).inner_s is None
    with pytest.raises(RuntimeError, match="boom"):
        best_of([sys.executable, "-c", "import sys; sys.exit('boom')"], 1, out)


def test_every_run_starts_without_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out.gguf"
    out.write_bytes(b"old")
    code = f"import pathlib, sys; p = pathlib.Path({str(out)!r}); assert not p.exists(); p.write_bytes(b'new')"
    best_of([sys.executable, "-c", code], 2, out)  # the second run fails if the first run's file is left
    assert out.read_bytes() == b"new"


def test_digest_ignores_metadata_but_not_tensors() -> None:
    ours = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"
    assert tensor_digest(ours) == tensor_digest(ours)
    assert tensor_digest(ours) != tensor_digest(GOLDEN / "requant" / "synth-a-f32.gguf")


def test_read_limit_reads_the_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * (1 << 20))
    assert 0 < read_limit([tmp_path / "a"], repeat=1) < 5


@pytest.mark.slow
def test_whole_run_on_a_tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step runs: checkpoint, BF16 GGUF, timings, digests, table (GPU figures on the CPU here)."""
    fake_llama = tmp_path / "llama-quantize"
    fake_llama.write_text(f'#!/bin/sh\ncd "{ROOT}" && exec "{sys.executable}" -m engine.cli convert "$1" '
                          '-o "$2" -t "$3" --threads "$4" --device cpu\n')
    fake_llama.chmod(0o755)
    monkeypatch.setattr(gpu_mod, "TINYLLAMA", TINY)
    real_ours = gpu_mod.ours
    monkeypatch.setattr(gpu_mod, "ours", lambda src, ft, out, device, threads: real_ours(src, ft, out, "cpu", threads))
    monkeypatch.chdir(ROOT)
    out = tmp_path / "table.md"
    argv = ["--out", str(out), "--work", str(tmp_path), "--llama-quantize", str(fake_llama), "--threads", "1",
            "--repeat", "1", "--types", "Q4_K_M", "Q8_0"]
    assert gpu_mod.main(argv) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 1.1B")]
    assert [r.split(" | ")[1:3] for r in rows] == [["GGUF BF16", "Q4_K_M"], ["GGUF BF16", "Q8_0"],
                                                    ["HF folder", "Q4_K_M"], ["HF folder", "Q8_0"]]
    assert all(r.endswith("| yes |") for r in rows)
    assert " | - | " not in rows[0] and rows[2].split(" | ")[6] == "-"  # llama-quantize only takes the GGUF
    assert sorted(os.listdir(tmp_path)) == ["1.1B-bf16.gguf", "1.1B-hf", "llama-quantize", "table.md"]
