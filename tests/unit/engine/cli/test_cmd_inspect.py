"""``quantpick inspect``: the human summary and the JSON agree with the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.common import human_bytes, human_count
from engine.cli.main import main
from engine.formats.summary import summarize
from tests.conftest import GOLDEN
from tests.unit.engine.formats.builders import base_gguf, write
from tests.unit.engine.formats.test_hf_folder import make_folder

GOLDEN_GGUFS = sorted(GOLDEN.rglob("*.gguf"))


def _lines(out: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        label, _, value = line.strip().partition("  ")
        rows.setdefault(label.strip(), value.strip())
    return rows


def test_human_output_for_a_quantized_gguf(capsys: pytest.CaptureFixture[str]) -> None:
    path = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    rows = _lines(out)
    assert out.splitlines()[0] == str(path)
    assert rows["Format"] == "GGUF v3"
    assert rows["Architecture"] == "llama"
    assert rows["Parameters"] == "2.49 M (2,492,672) in 39 tensors"
    assert rows["Layers"] == "4"
    assert rows["Context length"] == "256 tokens"
    assert rows["File type"] == "Q4_K_M"
    assert rows["Tensor types"].split()[:3] == ["Q4_K", "25", "tensors"]
    assert "Q6_K" in out and "F32" in out
    assert rows["Size on disk"] == f"1.45 MiB ({path.stat().st_size:,} bytes)"
    assert rows["Tokenizer"] == "none"
    assert rows["Chat template"] == "no"


def test_human_output_for_an_hf_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(make_folder(tmp_path / "m"))]) == 0
    rows = _lines(capsys.readouterr().out)
    assert rows["Architecture"] == "LlamaForCausalLM"
    assert rows["Tokenizer"] == "sentencepiece"
    assert rows["Tensor types"].startswith("BF16")
    assert rows["Context length"] == "2,048 tokens"


def test_unknown_facts_say_not_stated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(GOLDEN / "imatrix" / "imatrix.gguf")]) == 0
    rows = _lines(capsys.readouterr().out)
    assert rows["Architecture"] == rows["Layers"] == rows["Context length"] == "not stated"


@pytest.mark.parametrize("path", GOLDEN_GGUFS, ids=lambda p: str(p.relative_to(GOLDEN)))
def test_json_on_every_golden_file(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == summarize(path).to_dict()


@pytest.mark.parametrize("make,fragment", [
    (lambda d: d / "missing.gguf", "There is nothing at"),
    (lambda d: write(d / "bad.gguf", base_gguf(version=1)), "GGUF version 1"),
    (lambda d: write(d / "cut.gguf", base_gguf()[:100]), "is not a valid GGUF file"),
    (lambda d: write(d / "x.safetensors", b"\x05\0\0\0\0\0\0\0{oops"), "not valid JSON"),
    (lambda d: write(d / "x.pt", b"\x80\x04junk"), "pickled PyTorch checkpoint"),
])
def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object,
                                        fragment: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    assert main(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quantpick: ") and fragment in lines[0]


@pytest.mark.parametrize("n,text", [(0, "0 bytes"), (1023, "1,023 bytes"), (1536, "1.50 KiB"),
                                    (5_168_608, "4.93 MiB"), (150 * 2**30, "150 GiB")])
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


@pytest.mark.parametrize("n,text", [(999, "999"), (8200, "8.20 K"), (1_443_072, "1.44 M"),
                                    (7_241_732_096, "7.24 B"), (405_000_000_000, "405 B")])
def test_human_count(n: int, text: str) -> None:
    assert human_count(n) == text
