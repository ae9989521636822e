"""Build Quantpick's bundle for the OS this runs on, with packaging/quantpick.spec.

    python packaging/build.py            # what `make package` and CI run

Outputs, under dist/: ``quantpick/`` (the one-folder bundle; on Windows with Quantpick.exe and
quantpick-cli.exe), ``Quantpick.app`` on macOS, and on Linux ``Quantpick.AppDir`` (see linux/appdir.py),
which appimagetool turns into an AppImage. Prints the bundle's size at the end.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent / "linux"))

from appdir import make_appdir  # noqa: E402


def folder_size(path: Path) -> int:
    """Bytes in regular files under ``path`` (symlinks not followed, hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for item in path.rglob("*"):
        if item.is_symlink() or not item.is_file():
            continue
        stat = item.stat()
        if (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_size
    return total


def strip_interpreter(internal: Path) -> int:
    """Drop debug info from the Python interpreter's own libraries; return the bytes saved.

    Only libpython and the standard library's extension modules: the wheels' libraries are patched with
    patchelf, and stripping those breaks them (numpy's OpenBLAS then fails to load).
    """
    strip = shutil.which("strip")
    if strip is None:
        return 0
    version = sysconfig.get_python_version()
    targets = [*internal.glob("libpython*.so*"), *(internal / f"python{version}" / "lib-dynload").glob("*.so")]
    before = sum(t.stat().st_size for t in targets)
    for target in targets:
        subprocess.run([strip, "--strip-debug", str(target)], check=True)
    return before - sum(t.stat().st_size for t in targets)


def main(argv: list[str] | None = None) -> int:
    """Run PyInstaller, then the Linux steps; return 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    args = parser.parse_args(argv)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(args.dist), "--workpath", str(args.work), str(ROOT / "packaging" / "quantpick.spec")],
        check=True, cwd=ROOT,
    )
    bundle = args.dist / "quantpick"
    if sys.platform.startswith("linux"):
        saved = strip_interpreter(bundle / "_internal")
        print(f"build: stripped {saved / 2**20:.1f} MiB of debug info from the interpreter")
        appdir = make_appdir(bundle, ROOT / "build" / "icons", args.dist / "Quantpick.AppDir")
        print(f"build: {appdir.relative_to(ROOT) if appdir.is_relative_to(ROOT) else appdir} is ready for appimagetool")
    target = args.dist / "Quantpick.app" if sys.platform == "darwin" else bundle
    print(f"build: {target} - {folder_size(target) / 2**20:.0f} MiB, in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
