"""Qt item models over lists of frozen records (search hits, catalog entries, recommendation rows).

A table is a list of ``Column``s, each a plain function from a record to its text, sort key, tooltip
and colours; the model only adapts them to Qt's roles. Views sort through a QSortFilterProxyModel on
``Role.SORT`` and read the record itself back through ``Role.RECORD``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QIcon

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex


class Role(enum.IntEnum):
    """Custom data roles."""

    RECORD = int(Qt.ItemDataRole.UserRole) + 1
    SORT = int(Qt.ItemDataRole.UserRole) + 2


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column: header, the text of a record, and optional sort key, tooltip, colours, icon, alignment."""

    header: str
    text: Callable[[T], str]
    sort: Callable[[T], Any] | None = None
    tooltip: Callable[[T], str] | None = None
    background: Callable[[T], str | None] | None = None
    foreground: Callable[[T], str | None] | None = None
    icon: Callable[[T], QIcon | None] | None = None
    align_right: bool = False
    header_tooltip: str = ""


class RecordTableModel(QAbstractTableModel, Generic[T]):
    """Rows are records, columns are ``Column``s; ``bold_row`` marks rows to draw in bold (the pick)."""

    def __init__(self, columns: Sequence[Column[T]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = tuple(columns)
        self._records: list[T] = []
        self.bold_row: Callable[[T], bool] = lambda record: False

    def records(self) -> list[T]:
        return list(self._records)

    def set_records(self, records: Sequence[T]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def append_records(self, records: Sequence[T]) -> None:
        if not records:
            return
        first = len(self._records)
        self.beginInsertRows(QModelIndex(), first, first + len(records) - 1)
        self._records.extend(records)
        self.endInsertRows()

    def record(self, row: int) -> T:
        return self._records[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt signature
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008,N802 - Qt signature
        return 0 if parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt override
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole and column.header_tooltip:
            return column.header_tooltip
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._records):
            return None
        record = self._records[index.row()]
        column = self._columns[index.column()]
        return self._role_value(record, column, role)

    def _role_value(self, record: T, column: Column[T], role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return column.text(record)
        if role == Role.RECORD:
            return record
        if role == Role.SORT:
            return column.sort(record) if column.sort is not None else column.text(record)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(record)
        if role == Qt.ItemDataRole.BackgroundRole and column.background is not None:
            color = column.background(record)
            return QColor(color) if color else None
        if role == Qt.ItemDataRole.ForegroundRole and column.foreground is not None:
            color = column.foreground(record)
            return QColor(color) if color else None
        if role == Qt.ItemDataRole.DecorationRole and column.icon is not None:
            return column.icon(record)
        if role == Qt.ItemDataRole.FontRole and self.bold_row(record):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
