"""Smoke test of the frozen bundle: version, a real conversion with the bundled CLI, the window, the files.

Run by ``make package-test`` (and CI) after ``make package``; skipped otherwise (see conftest.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main as cli_main
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import read_gguf
from engine.quant import dequantize
from engine.version import __version__
from tests.conftest import GOLDEN

SOURCE = GOLDEN / "requant" / "synth-a-f32.gguf"
LICENSED_DISTS = ("PySide6_Essentials", "shiboken6", "numpy", "psutil", "nvidia_ml_py", "huggingface_hub", "gguf",
                  "tokenizers")
WINDOW_LIMIT_S = 60  # a hang guard; the start-up target (2 s) is measured by packaging/measure_startup.py


def _run(exe: Path, args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _internal_dir(exe: Path) -> Path:
    """Where PyInstaller put the libraries and data: _internal/ beside the exe, or Contents/Frameworks."""
    beside = exe.parent / "_internal"
    return beside if beside.is_dir() else exe.parent.parent / "Frameworks"


def test_version_comes_from_engine_version(bundle_exe: Path, isolated_env: dict[str, str]) -> None:
    done = _run(bundle_exe, ["--version"], isolated_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"quantpick {__version__}"


def test_bundled_cli_converts_golden_model_to_q8_0(
    bundle_exe: Path, isolated_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frozen_out = tmp_path / "frozen-Q8_0.gguf"
    done = _run(bundle_exe, ["convert", str(SOURCE), "-t", "Q8_0", "-o", str(frozen_out)], isolated_env)
    assert done.returncode == 0, done.stderr
    source, result = read_gguf(SOURCE), read_gguf(frozen_out)
    assert sorted(t.name for t in result.tensors) == sorted(t.name for t in source.tensors)
    matrices = [t for t in result.tensors if len(t.shape) == 2]
    assert matrices and all(t.qtype == GGMLType.Q8_0 for t in matrices)
    assert all(t.qtype == GGMLType.F32 for t in result.tensors if len(t.shape) == 1)
    name = matrices[0].name
    back = dequantize(result.raw(name), GGMLType.Q8_0, result.tensor(name).shape[0])
    original = source.view(name).reshape(back.shape)
    assert np.max(np.abs(back - original)) <= np.max(np.abs(original)) / 127
    source_out = tmp_path / "source-Q8_0.gguf"
    assert cli_main(["convert", str(SOURCE), "-t", "Q8_0", "-o", str(source_out)]) == 0
    capsys.readouterr()
    assert frozen_out.read_bytes() == source_out.read_bytes(), "the bundle wrote other bytes than the source tree"


@pytest.mark.parametrize("args", [[], [str(SOURCE)]], ids=["no-arguments", "model-file-from-a-file-manager"])
def test_window_opens_paints_and_closes(bundle_exe: Path, isolated_env: dict[str, str], args: list[str]) -> None:
    env = {**isolated_env, "QUANTPICK_STARTUP_PROBE": "1"}
    done = _run(bundle_exe, args, env, timeout=WINDOW_LIMIT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"^quantpick-startup first_paint_s=([0-9.]+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout + done.stderr
    assert 0 < float(match.group(1)) < WINDOW_LIMIT_S
    assert "Traceback" not in done.stderr


def test_bundle_carries_resources_and_license_metadata_but_not_cupy(bundle_exe: Path) -> None:
    internal = _internal_dir(bundle_exe)
    for resource in ("catalog.json", "bpe_pre_tokenizers.json", "icons/quantpick.svg"):
        assert (internal / "resources" / resource).is_file(), resource
    dist_infos = {p.name.split("-")[0].lower() for p in internal.glob("*.dist-info")}
    assert {d.lower() for d in LICENSED_DISTS} <= dist_infos
    for text in ("LGPL-3.0.txt", "GPL-3.0.txt", "Apache-2.0.txt", "nvidia-ml-py.txt"):
        assert (internal / "licenses" / text).stat().st_size > 1000, text
    assert "NVIDIA Corporation" in (internal / "licenses" / "nvidia-ml-py.txt").read_text(encoding="utf-8")
    plugins = internal / "PySide6" / "Qt" / "plugins"
    assert list(plugins.glob("iconengines/*qsvgicon*")), "SVG icons would not draw"
    assert list(plugins.glob("platforms/*qoffscreen*"))
    assert not (internal / "cupy").exists()
    assert not (internal / "PySide6" / "Qt" / "translations").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the AppDir is the Linux layout")
def test_appdir_runs_the_same_bundle(bundle_exe: Path, isolated_env: dict[str, str]) -> None:
    apprun = bundle_exe.parent.parent / "Quantpick.AppDir" / "AppRun"
    assert apprun.is_file(), "make package lays out dist/Quantpick.AppDir next to dist/quantpick"
    done = _run(apprun, ["--version"], isolated_env)
    assert done.returncode == 0 and done.stdout.strip() == f"quantpick {__version__}", done.stderr
