"""The memory bar paints its parts in their colours, in light and dark palettes."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette

from app.widgets.memory_bar import OVER_COLOR, PART_COLORS, MemoryBar, text_color_on
from app.widgets.memory_usage import DeviceUsage, Part

G = 1024**3
USAGE = (DeviceUsage("GPU 0: RTX 3060", 12 * G, ((Part.WEIGHTS, 6 * G), (Part.KV, 3 * G))),
         DeviceUsage("RAM", 8 * G, ((Part.WEIGHTS, 10 * G),)))


def _colors_in_row(image, y: int) -> set[str]:
    return {QColor(image.pixel(x, y)).name() for x in range(image.width())}


def _dark() -> QPalette:
    pal = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#202124"), (QPalette.ColorRole.WindowText, "#e8eaed"),
                        (QPalette.ColorRole.Base, "#303134"), (QPalette.ColorRole.Text, "#e8eaed")):
        pal.setColor(role, QColor(color))
    return pal


@pytest.mark.gui
@pytest.mark.parametrize("dark", [False, True])
def test_bar_paints_weights_kv_free_and_overflow(qtbot, dark: bool) -> None:
    bar = MemoryBar()
    qtbot.addWidget(bar)
    if dark:
        bar.setPalette(_dark())
    bar.set_usage(USAGE)
    bar.resize(600, bar.sizeHint().height())
    image = bar.grab().toImage()
    line = bar.fontMetrics().height()
    gpu_row = _colors_in_row(image, line + 2 + line // 2)
    assert PART_COLORS[Part.WEIGHTS] in gpu_row and PART_COLORS[Part.KV] in gpu_row
    assert bar.palette().color(QPalette.ColorRole.Base).name() in gpu_row  # free space
    ram_row = _colors_in_row(image, 3 * line + line + 2 + line // 2)
    assert OVER_COLOR in ram_row  # 10 GiB on 8 GiB of RAM
    assert "over by 2.0 GiB" in bar.toolTip() and "KV cache 3.0 GiB" in bar.accessibleDescription()


@pytest.mark.gui
def test_empty_bar_says_so(qtbot) -> None:
    bar = MemoryBar()
    qtbot.addWidget(bar)
    bar.set_usage([])
    assert bar.toolTip() == "No recommendation selected."
    assert not bar.grab().isNull()


def test_text_colour_contrasts_with_fill() -> None:
    assert text_color_on(QColor("#ffffff")).name() == "#000000"
    assert text_color_on(QColor(PART_COLORS[Part.WEIGHTS])).name() == "#ffffff"
