"""``quantpick convert`` from the command line: plan, write, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.conftest import GOLDEN

SOURCE = GOLDEN / "requant" / "synth-a-f32.gguf"


def test_dry_run_prints_the_plan_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(SOURCE), "--type", "q4_k", "--out-dir", str(tmp_path), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["file_type"] == "Q4_K_M"
    assert plan["output"].endswith("synthetic-Q4_K_M.gguf")
    assert len(plan["tensors"]) == 39
    assert list(tmp_path.iterdir()) == []


def test_convert_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.gguf"
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == str(out) and out.stat().st_size == result["bytes"]


def test_unknown_type_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(SOURCE), "-t", "Q4_K_X", "-o", str(tmp_path / "m.gguf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Q4_K_M" in err


def test_output_over_source_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(SOURCE)]) == 2
    assert "overwrite" in capsys.readouterr().err
