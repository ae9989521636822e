"""The engine never imports Qt or the app, and CuPy is imported by nobody unless asked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_ENGINE = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "app")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_sources_never_import_qt_or_app() -> None:
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        for mod in imported_modules(path):
            if mod.split(".")[0] in FORBIDDEN_IN_ENGINE:
                offenders.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not offenders, offenders


def test_importing_engine_loads_neither_qt_nor_cupy() -> None:
    code = (
        "import sys, engine.quant, engine.errors, engine.formats;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','cupy','app')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_xp_seam_imports_cupy() -> None:
    seam = ROOT / "engine" / "quant" / "xp.py"
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "engine").rglob("*.py")
        if path != seam and any(m.split(".")[0] == "cupy" for m in imported_modules(path))
    ]
    assert not offenders, offenders


def test_engine_never_imports_the_app_by_name() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "engine").rglob("*.py")
        if "import_module(\"app" in path.read_text(encoding="utf-8")
        or "import_module('app" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, offenders
