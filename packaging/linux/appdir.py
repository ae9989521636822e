"""Lay out Quantpick.AppDir from the PyInstaller folder: ready for appimagetool, or for install.sh.

    Quantpick.AppDir/
      AppRun, install.sh, quantpick.desktop, quantpick.png, .DirIcon -> quantpick.png
      usr/bin/quantpick -> ../lib/quantpick/quantpick
      usr/lib/quantpick/                    the one-folder bundle (hard links where possible)
      usr/share/applications/quantpick.desktop
      usr/share/icons/hicolor/<n>x<n>/apps/quantpick.png, scalable/apps/quantpick.svg
      usr/share/mime/packages/quantpick.xml
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "quantpick"


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link when source and AppDir share a file system (instant, no extra disk), copy otherwise."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make_appdir(bundle: Path, icons: Path, appdir: Path) -> Path:
    """Build ``appdir`` from the PyInstaller ``bundle`` folder and the rendered ``icons``; return it."""
    if appdir.exists():
        shutil.rmtree(appdir)
    usr = appdir / "usr"
    shutil.copytree(bundle, usr / "lib" / NAME, symlinks=True, copy_function=_link_or_copy)
    (usr / "bin").mkdir(parents=True)
    (usr / "bin" / NAME).symlink_to(Path("..") / "lib" / NAME / NAME)
    shutil.copytree(icons / "hicolor", usr / "share" / "icons" / "hicolor")
    for folder, name, source in (
        ("applications", f"{NAME}.desktop", HERE / f"{NAME}.desktop"),
        ("mime/packages", f"{NAME}.xml", HERE / f"{NAME}-mime.xml"),
    ):
        target = usr / "share" / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    shutil.copyfile(HERE / f"{NAME}.desktop", appdir / f"{NAME}.desktop")
    shutil.copyfile(icons / "hicolor" / "256x256" / "apps" / f"{NAME}.png", appdir / f"{NAME}.png")
    (appdir / ".DirIcon").symlink_to(f"{NAME}.png")
    for script in ("AppRun", "install.sh"):
        shutil.copyfile(HERE / script, appdir / script)
        (appdir / script).chmod(0o755)
    return appdir
