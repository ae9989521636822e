"""`quantpick recommend` and `quantpick hardware` as command modules (main.py wires them in)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from engine.cli import cmd_hardware, cmd_recommend
from engine.errors import UsageError
from engine.hardware import PRESETS
from tests.conftest import GOLDEN


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cmd_hardware.register(sub)
    cmd_recommend.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_recommend_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["recommend", "Qwen/Qwen3-8B", "--hardware", "rtx4090-24gb", "--ctx", "8192"]) == 0
    out = capsys.readouterr().out
    assert "llama-server -m Qwen3-8B-" in out and "PARAMETER num_gpu" in out and "*" in out


def test_recommend_json_from_a_saved_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "box.json"
    profile.write_text(PRESETS["cpu-16gb"].to_json())
    folder = str(GOLDEN / "convert" / "hf-tiny-llama-spm")
    assert _run(["recommend", folder, "--hardware", str(profile), "--kv-type", "q8_0", "--types", "Q8_0,Q4_K_M",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hardware"] == "cpu-16gb" and {o["file_type"] for o in data["options"]} == {"Q8_0", "Q4_K_M"}
    assert "-ctk q8_0" in data["commands"]["llama_server"]
    assert all(set(m) == {"model", "context", "compute", "output"} for o in data["options"]
               for m in o["memory"].values())


def test_bad_values() -> None:
    with pytest.raises(UsageError):
        _run(["recommend", "Qwen/Qwen3-8B", "--hardware", "cpu-16gb", "--kv-type", "q3"])
    with pytest.raises(UsageError):
        _run(["recommend", "Qwen/Qwen3-8B", "--hardware", "no-such-preset"])
    with pytest.raises(UsageError):
        _run(["recommend", "Qwen/Qwen3-8B", "--hardware", "cpu-16gb", "--ctx", "0"])


def test_hardware_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["hardware", "--preset", "2x-rtx3090"]) == 0
    assert "GPU 1:" in capsys.readouterr().out
    assert _run(["hardware", "--preset", "m2-max-32gb", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gpus"][0]["unified"] is True
    assert _run(["hardware", "--list-presets"]) == 0
    assert "rtx3060-12gb" in capsys.readouterr().out
    assert _run(["hardware"]) == 0
    assert "CPU:" in capsys.readouterr().out


def test_explicit_slots_give_np(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["recommend", "Qwen/Qwen3-8B", "--hardware", "rtx4090-24gb", "--parallel", "2", "--json"]) == 0
    assert " -np 2" in json.loads(capsys.readouterr().out)["commands"]["llama_server"]
