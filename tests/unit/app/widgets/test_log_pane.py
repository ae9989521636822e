"""The log pane: level filter, readable lines with details, colours for light and dark."""

from __future__ import annotations

import logging

import pytest

from app.bridge import LogEntry
from app.theme import dark_palette, light_palette
from app.widgets.log_pane import LogPane, format_entry, level_colour

pytestmark = pytest.mark.gui


def entry(level: int, text: str, details: str = "") -> LogEntry:
    return LogEntry(level, text, "app.test", 0.0, details)


def test_format_puts_details_under_the_line() -> None:
    line = format_entry(entry(logging.WARNING, "Careful.", "first\nsecond"))
    head, *rest = line.splitlines()
    assert head.endswith("Warning  Careful.")
    assert rest == ["    first", "    second"]


def test_filter_hides_and_restores(qtbot) -> None:
    pane = LogPane()
    qtbot.addWidget(pane)
    for level, text in ((logging.DEBUG, "dbg"), (logging.INFO, "inf"), (logging.WARNING, "wrn"),
                        (logging.ERROR, "err")):
        pane.add_entry(entry(level, text))
    shown = pane.visible_text()
    assert "dbg" not in shown and all(t in shown for t in ("inf", "wrn", "err"))
    pane.set_min_level(logging.ERROR)
    assert "err" in pane.visible_text() and "wrn" not in pane.visible_text()
    pane.set_min_level(logging.DEBUG)
    assert "dbg" in pane.visible_text()


def test_colours_differ_by_level_and_theme() -> None:
    for palette in (light_palette(), dark_palette()):
        colours = {level_colour(level, palette).name() for level in (logging.DEBUG, logging.INFO, logging.WARNING,
                                                                     logging.ERROR)}
        assert len(colours) == 4
    assert level_colour(logging.ERROR, light_palette()) != level_colour(logging.ERROR, dark_palette())


def contrast(a, b) -> float:
    def lum(c) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_level_is_readable_on_light_and_dark() -> None:
    from PySide6.QtGui import QPalette

    for palette in (light_palette(), dark_palette()):
        base = palette.color(QPalette.ColorRole.Base)
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            assert contrast(level_colour(level, palette), base) >= 3.0, (level, base.name())
