"""Stacked memory bars (VRAM per GPU, then RAM): weights, KV cache, compute buffers, other use, free.

Drawn with QPainter from ``DeviceUsage`` data. Fill colours are mid-tone hues that read on light and dark
windows; text and outlines come from the widget's palette, so the bar follows the system theme.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.widgets.memory_usage import DeviceUsage, Part, capacity_x, legend, spans
from app.widgets.units import fmt_bytes

PART_COLORS: dict[Part, str] = {
    Part.WEIGHTS: "#3b82f6",
    Part.KV: "#e69500",
    Part.COMPUTE: "#8b5cf6",
    Part.OTHER: "#8c939e",
}
OVER_COLOR = "#d93025"


def text_color_on(fill: QColor) -> QColor:
    """Black or white, whichever reads better on ``fill`` (relative luminance)."""
    luminance = 0.2126 * fill.redF() + 0.7152 * fill.greenF() + 0.0722 * fill.blueF()
    return QColor("#000000") if luminance > 0.5 else QColor("#ffffff")


class MemoryBar(QWidget):
    """One labelled bar per device plus a legend; ``set_usage`` replaces what is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._usage: tuple[DeviceUsage, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Memory use")
        self.setMinimumWidth(240)

    def usage(self) -> tuple[DeviceUsage, ...]:
        return self._usage

    def set_usage(self, usage: Sequence[DeviceUsage]) -> None:
        """Show these devices (empty: a placeholder line)."""
        self._usage = tuple(usage)
        text = " ".join(u.summary() for u in self._usage) or "No recommendation selected."
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self.updateGeometry()
        self.update()

    # -- geometry -----------------------------------------------------------------------------------

    def _line(self) -> int:
        return self.fontMetrics().height()

    def _row_height(self) -> int:
        return self._line() * 3

    def sizeHint(self) -> QSize:
        rows = max(len(self._usage), 1)
        return QSize(420, rows * self._row_height() + self._line() + 8)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, self.sizeHint().height())

    # -- painting -----------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pal = self.palette()
        if not self._usage:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No recommendation selected.")
            return
        y = 0
        for usage in self._usage:
            self._paint_device(painter, usage, y)
            y += self._row_height()
        self._paint_legend(painter, y)

    def _paint_device(self, painter: QPainter, usage: DeviceUsage, top: int) -> None:
        pal = self.palette()
        line = self._line()
        width = self.width() - 2
        painter.setPen(pal.color(QPalette.ColorRole.WindowText))
        status = (f"over by {fmt_bytes(-usage.free)}" if usage.over else f"{fmt_bytes(usage.free)} free")
        header = f"{usage.label}: {fmt_bytes(usage.used)} of {fmt_bytes(usage.capacity)}, {status}"
        painter.drawText(QRect(1, top, width, line), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self.fontMetrics().elidedText(header, Qt.TextElideMode.ElideRight, width))
        bar = QRect(1, top + line + 2, width, int(line * 1.5))
        for span in spans(usage, bar.width()):
            rect = QRect(bar.left() + span.start, bar.top(), span.width, bar.height())
            self._paint_span(painter, rect, span.part, span.nbytes)
        edge = capacity_x(usage, bar.width())
        if edge is not None:
            over = QRect(bar.left() + edge, bar.top(), bar.width() - edge, bar.height())
            painter.fillRect(over, QBrush(QColor(OVER_COLOR), Qt.BrushStyle.BDiagPattern))
            painter.setPen(QPen(QColor(OVER_COLOR), 2))
            painter.drawLine(bar.left() + edge, bar.top() - 2, bar.left() + edge, bar.bottom() + 2)
        painter.setPen(pal.color(QPalette.ColorRole.Mid))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(bar.adjusted(0, 0, -1, -1))

    def _paint_span(self, painter: QPainter, rect: QRect, part: Part, nbytes: int) -> None:
        pal = self.palette()
        if part is Part.FREE:
            fill = pal.color(QPalette.ColorRole.Base)
            painter.fillRect(rect, fill)
            text_color = pal.color(QPalette.ColorRole.Text)
        else:
            fill = QColor(PART_COLORS[part])
            painter.fillRect(rect, fill)
            if part is Part.OTHER:
                painter.fillRect(rect, QBrush(fill.darker(130), Qt.BrushStyle.Dense6Pattern))
            text_color = text_color_on(fill)
        label = f"{part.value} {fmt_bytes(nbytes)}"
        metrics = self.fontMetrics()
        if metrics.horizontalAdvance(label) + 8 > rect.width():
            label = fmt_bytes(nbytes)
        if metrics.horizontalAdvance(label) + 8 <= rect.width():
            painter.setPen(text_color)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

    def _paint_legend(self, painter: QPainter, top: int) -> None:
        pal = self.palette()
        line = self._line()
        x = 1
        for part in legend(self._usage):
            swatch = QRect(x, top + line // 4, line // 2 + 2, line // 2 + 2)
            if part is Part.FREE:
                painter.fillRect(swatch, pal.color(QPalette.ColorRole.Base))
            else:
                painter.fillRect(swatch, QColor(PART_COLORS[part]))
            painter.setPen(pal.color(QPalette.ColorRole.Mid))
            painter.drawRect(swatch.adjusted(0, 0, -1, -1))
            painter.setPen(pal.color(QPalette.ColorRole.WindowText))
            x = swatch.right() + 5
            advance = self.fontMetrics().horizontalAdvance(part.value)
            painter.drawText(QRect(x, top, advance + 2, line), Qt.AlignmentFlag.AlignVCenter, part.value)
            x += advance + 14
