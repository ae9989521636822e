"""Helpers for the packaging tests: load the build scripts by path, find the frozen bundle under test.

packaging/ is deliberately not a Python package (its name would shadow PyPI's ``packaging``), so its
scripts are loaded from their files. The bundle tests run only when QUANTPICK_BUNDLE names the frozen
executable (``make package-test`` sets it); without it they are skipped, since building takes a minute.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
BUNDLE_ENV = "QUANTPICK_BUNDLE"


def load_script(relative: str) -> ModuleType:
    """Import ``packaging/<relative>`` as a module named after the file."""
    path = PACKAGING / relative
    name = f"quantpick_packaging_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bundle_exe() -> Path:
    """The frozen executable named by QUANTPICK_BUNDLE; skip when unset, fail when it is missing."""
    value = os.environ.get(BUNDLE_ENV)
    if not value:
        pytest.skip(f"no frozen bundle under test: run `make package-test` (sets {BUNDLE_ENV})")
    exe = Path(value).resolve()
    assert exe.is_file(), f"{BUNDLE_ENV}={value} is not a file: build it with `make package`"
    return exe


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """The environment for running the bundle: settings, logs and caches in tmp_path, no network, offscreen."""
    env = dict(os.environ)
    home = tmp_path / "home"
    home.mkdir()
    env.update({
        "HOME": str(home), "USERPROFILE": str(home), "APPDATA": str(home / "AppData" / "Roaming"),
        "LOCALAPPDATA": str(home / "AppData" / "Local"), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen",
    })
    env.pop("QUANTPICK_STARTUP_PROBE", None)
    return env
