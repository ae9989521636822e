"""Icons drawn from the SVG files in resources/icons, so they stay sharp at any device pixel ratio."""

from __future__ import annotations

import functools

from PySide6.QtGui import QIcon

from engine.resources_path import resource_path

ICON_DIR = resource_path("icons")


@functools.cache
def svg_icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg``; a null icon if the file is missing (never an error)."""
    path = ICON_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
