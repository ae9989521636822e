"""The Linux AppDir layout and install.sh, on a stand-in bundle (a script that prints its arguments)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import load_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="AppDir and install.sh are for Linux")


@pytest.fixture
def appdir(tmp_path: Path, qapp) -> Path:
    bundle = tmp_path / "dist" / "quantpick"
    (bundle / "_internal").mkdir(parents=True)
    exe = bundle / "quantpick"
    exe.write_text('#!/bin/sh\necho "stand-in quantpick $*"\n', encoding="utf-8")
    exe.chmod(0o755)
    icons = tmp_path / "icons"
    make_icons = load_script("make_icons.py")
    make_icons.make_icons(make_icons.SVG, icons)
    return load_script("linux/appdir.py").make_appdir(bundle, icons, tmp_path / "dist" / "Quantpick.AppDir")


def _run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True).stdout


def test_layout_is_what_appimagetool_expects(appdir: Path) -> None:
    for name in ("AppRun", "quantpick.desktop", "quantpick.png", ".DirIcon", "install.sh"):
        assert (appdir / name).exists(), name
    assert os.access(appdir / "AppRun", os.X_OK)
    assert os.readlink(appdir / ".DirIcon") == "quantpick.png"
    assert (appdir / "usr/share/mime/packages/quantpick.xml").is_file()
    assert (appdir / "usr/share/icons/hicolor/256x256/apps/quantpick.png").is_file()
    assert _run(appdir / "AppRun", "convert", "x").strip() == "stand-in quantpick convert x"
    assert _run(appdir / "usr/bin/quantpick", "--version").strip() == "stand-in quantpick --version"


def test_install_and_uninstall_for_one_user(appdir: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    out = _run("sh", appdir / "install.sh", "--prefix", prefix)
    assert str(prefix) in out
    assert _run(prefix / "bin" / "quantpick", "inspect").strip() == "stand-in quantpick inspect"
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str  # type: ignore[assignment,method-assign]
    desktop.read(prefix / "share/applications/quantpick.desktop", encoding="utf-8")
    assert desktop["Desktop Entry"]["Exec"] == f"{prefix}/bin/quantpick %F"
    assert (prefix / "share/mime/packages/quantpick.xml").is_file()
    assert (prefix / "share/icons/hicolor/48x48/apps/quantpick.png").is_file()
    if shutil.which("update-mime-database"):
        assert "application/x-gguf" in (prefix / "share/mime/globs2").read_text(encoding="utf-8")
    _run("sh", appdir / "install.sh", "--uninstall", "--prefix", prefix)
    assert not (prefix / "bin" / "quantpick").exists() and not (prefix / "lib" / "quantpick").exists()
    assert not (prefix / "share/applications/quantpick.desktop").exists()


def test_install_refuses_a_folder_without_the_bundle(tmp_path: Path) -> None:
    script = tmp_path / "install.sh"
    shutil.copyfile(load_script("linux/appdir.py").HERE / "install.sh", script)
    done = subprocess.run(["sh", str(script), "--prefix", str(tmp_path / "p")], capture_output=True, text=True)
    assert done.returncode == 1 and "run me from inside Quantpick.AppDir" in done.stderr
