"""engine.hub stands alone: it never imports the formats, quant, hardware or recommend layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
FORBIDDEN = ("engine.formats", "engine.quant", "engine.hardware", "engine.recommend", "engine.convert", "app",
             "PySide6")


def test_no_hub_module_imports_another_engine_layer() -> None:
    offenders = []
    for path in (ROOT / "engine" / "hub").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert not offenders


def test_importing_the_hub_loads_no_other_layer() -> None:
    code = ("import sys, engine.hub; bad = [m for m in sys.modules if m.startswith(%r)]; print(bad); "
            "sys.exit(1 if bad else 0)" % (FORBIDDEN,))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
