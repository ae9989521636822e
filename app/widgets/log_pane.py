"""The log pane: everything the app and the engine said, filtered by level, colour-coded, copyable."""

from __future__ import annotations

import html
import logging
import time
from collections import deque

from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.bridge import LogEntry

MAX_ENTRIES = 5000
LEVELS: tuple[tuple[str, int], ...] = (
    ("Everything (debug)", logging.DEBUG),
    ("Information", logging.INFO),
    ("Warnings and errors", logging.WARNING),
    ("Errors only", logging.ERROR),
)
DEFAULT_LEVEL = logging.INFO


def format_entry(entry: LogEntry) -> str:
    """``12:03:45  Warning  The file is damaged.`` with the details indented below."""
    stamp = time.strftime("%H:%M:%S", time.localtime(entry.created))
    line = f"{stamp}  {entry.level_name:<8} {entry.text}"
    if entry.details:
        line += "\n" + "\n".join("    " + d for d in entry.details.rstrip().splitlines())
    return line


def level_colour(level: int, palette: QPalette) -> QColor:
    """Red for errors, amber for warnings, dimmed for debug; tuned to stay readable on light and dark."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    if level >= logging.ERROR:
        return QColor("#ff7b72" if dark else "#b42318")
    if level >= logging.WARNING:
        return QColor("#e3b341" if dark else "#9a6700")
    if level < logging.INFO:
        return QColor("#8b949e" if dark else "#6e7781")
    return palette.color(QPalette.ColorRole.Text)


class LogPane(QWidget):
    """Shows log entries at or above the chosen level; keeps the newest ``MAX_ENTRIES`` for re-filtering."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: deque[LogEntry] = deque(maxlen=MAX_ENTRIES)
        self._level = QComboBox()
        for label, level in LEVELS:
            self._level.addItem(label, level)
        self._level.setCurrentIndex([lv for _, lv in LEVELS].index(DEFAULT_LEVEL))
        self._level.setToolTip("Which messages to show")
        self._level.currentIndexChanged.connect(self._on_level_current_index_changed)
        self._text = QPlainTextEdit()
        self._text.setReadOnly(True)
        self._text.setAcceptDrops(False)  # drops go to the window
        self._text.setMaximumBlockCount(MAX_ENTRIES * 4)
        self._text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._text.setAccessibleName("Log")
        self._text.setPlaceholderText("Messages from conversions and checks appear here.")
        copy_button = QPushButton("Copy")
        copy_button.setToolTip("Copy the messages shown to the clipboard")
        copy_button.clicked.connect(self._on_copy_clicked)
        clear_button = QPushButton("Clear")
        clear_button.setToolTip("Remove all messages from the pane")
        clear_button.clicked.connect(self._on_clear_clicked)
        show_label = QLabel("&Show:")
        show_label.setBuddy(self._level)
        top = QHBoxLayout()
        top.addWidget(show_label)
        top.addWidget(self._level)
        top.addStretch(1)
        top.addWidget(copy_button)
        top.addWidget(clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self._text)

    @property
    def min_level(self) -> int:
        return int(self._level.currentData())

    def set_min_level(self, level: int) -> None:
        self._level.setCurrentIndex([lv for _, lv in LEVELS].index(level))

    def visible_text(self) -> str:
        return self._text.toPlainText()

    def add_entry(self, entry: LogEntry) -> None:
        """Keep ``entry`` and show it if its level passes the filter (connect ``entry_posted`` here)."""
        self._entries.append(entry)
        if entry.level >= self.min_level:
            self._append(entry)

    def _append(self, entry: LogEntry) -> None:
        colour = level_colour(entry.level, self.palette()).name()
        body = html.escape(format_entry(entry)).replace("\n", "<br>").replace("  ", "&nbsp;&nbsp;")
        self._text.appendHtml(f'<span style="color:{colour}; white-space:pre-wrap">{body}</span>')

    def _on_level_current_index_changed(self, _index: int) -> None:
        self._text.clear()
        for entry in self._entries:
            if entry.level >= self.min_level:
                self._append(entry)

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.visible_text())

    def _on_clear_clicked(self) -> None:
        self._entries.clear()
        self._text.clear()
