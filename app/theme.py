"""Light, dark, or whatever the system uses: one function that applies the ``theme`` setting.

"system" leaves the platform's palette alone (Qt follows the desktop's light/dark choice where the
platform reports it). "light" and "dark" use the Fusion style with a fixed palette, so they look the same
on every platform, including the off-screen one that renders the screenshots.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

_SCHEMES = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}

# (role, active/inactive colour, disabled colour)
_DARK = (
    (QPalette.ColorRole.Window, "#2b2d31", "#2b2d31"),
    (QPalette.ColorRole.WindowText, "#e6e6e6", "#80838a"),
    (QPalette.ColorRole.Base, "#1e1f22", "#232428"),
    (QPalette.ColorRole.AlternateBase, "#26282c", "#26282c"),
    (QPalette.ColorRole.ToolTipBase, "#3a3d43", "#3a3d43"),
    (QPalette.ColorRole.ToolTipText, "#f0f0f0", "#a0a0a0"),
    (QPalette.ColorRole.PlaceholderText, "#8b8e95", "#6b6e75"),
    (QPalette.ColorRole.Text, "#e6e6e6", "#80838a"),
    (QPalette.ColorRole.Button, "#35373c", "#2f3136"),
    (QPalette.ColorRole.ButtonText, "#e6e6e6", "#80838a"),
    (QPalette.ColorRole.BrightText, "#ff6b6b", "#ff6b6b"),
    (QPalette.ColorRole.Light, "#4a4d53", "#4a4d53"),
    (QPalette.ColorRole.Midlight, "#3d4046", "#3d4046"),
    (QPalette.ColorRole.Mid, "#6b6f78", "#55585f"),
    (QPalette.ColorRole.Dark, "#1a1b1e", "#1a1b1e"),
    (QPalette.ColorRole.Shadow, "#000000", "#000000"),
    (QPalette.ColorRole.Highlight, "#3b82c4", "#4a4d53"),
    (QPalette.ColorRole.HighlightedText, "#ffffff", "#a0a0a0"),
    (QPalette.ColorRole.Link, "#6cb4ff", "#6cb4ff"),
    (QPalette.ColorRole.LinkVisited, "#b18cff", "#b18cff"),
)


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, normal, disabled in _DARK:
        palette.setColor(QPalette.ColorGroup.Active, role, QColor(normal))
        palette.setColor(QPalette.ColorGroup.Inactive, role, QColor(normal))
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return palette


def light_palette() -> QPalette:
    style = QStyleFactory.create("Fusion")
    palette = style.standardPalette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fb3"))
    palette.setColor(QPalette.ColorRole.Mid, QColor("#9aa0a8"))
    return palette


_system_style: list[str] = []  # the platform's style name, remembered before Fusion replaces it


def apply_theme(app: QApplication, theme: str) -> None:
    """Apply a ``theme`` setting value ("system", "light" or "dark") to the whole application."""
    if not _system_style:
        _system_style.append(app.style().name())
    app.styleHints().setColorScheme(_SCHEMES.get(theme, Qt.ColorScheme.Unknown))
    if theme == "dark":
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    elif theme == "light":
        app.setStyle("Fusion")
        app.setPalette(light_palette())
    else:
        app.setStyle(_system_style[0])
        app.setPalette(app.style().standardPalette())  # back to the platform's own


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128
