"""Where the read-only data files (``resources/``) are: one lookup shared by the engine and the app.

Three ways Quantpick runs, three places the folder can be:

* from a source checkout or an editable install: ``resources/`` beside the ``engine`` package;
* frozen by PyInstaller: ``<sys._MEIPASS>/resources`` (the spec in packaging/ puts it there; inside a
  macOS .app that is Contents/Frameworks, where PyInstaller links Contents/Resources);
* from a wheel: ``<sys.prefix>/share/quantpick/resources`` (pyproject.toml's data-files).

The first folder that exists wins, so a checkout always reads its own files, never a stale installed copy.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

SHARE_SUBDIR = ("share", "quantpick", "resources")
SOURCE_DIR = Path(__file__).resolve().parents[1] / "resources"


def candidate_dirs() -> tuple[Path, ...]:
    """The folders that may hold ``resources/``, best first (see the module docstring)."""
    frozen = getattr(sys, "_MEIPASS", None)
    found: list[Path] = []
    if frozen:
        found.append(Path(frozen) / "resources")
    found.append(SOURCE_DIR)
    found.append(Path(sys.prefix).joinpath(*SHARE_SUBDIR))
    return tuple(found)


@functools.cache
def resources_dir() -> Path:
    """The ``resources/`` folder in use; the checkout's path if none exists (so errors name a real place)."""
    for folder in candidate_dirs():
        if folder.is_dir():
            return folder
    return SOURCE_DIR


def resource_path(*parts: str) -> Path:
    """``resources/<parts...>``, e.g. ``resource_path("icons", "quantpick.svg")``; the file may not exist."""
    return resources_dir().joinpath(*parts)
