"""The model picker's four tabs. Each shows a list and says what was selected; none does I/O itself.

Hub search and the cache scan run through the picker's BackgroundRunner (keys ``hub.search`` and
``cache.scan``); the tabs only build queries and show answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QPushButton, QTableView, QVBoxLayout, QWidget,
)

from app.widgets.model_columns import CACHED_COLUMNS, CATALOG_COLUMNS, SORT_LABELS, SUMMARY_COLUMNS
from app.widgets.svg_icons import svg_icon
from app.widgets.table_models import Column, RecordTableModel, Role
from engine.hub import Catalog, SearchPage, SearchQuery


class RecordTable(QTableView):
    """A sortable, single-selection table of records; emits ``record_selected(object)``."""

    record_selected = Signal(object)

    def __init__(self, columns: Sequence[Column[Any]], name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records = RecordTableModel(columns, self)
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self.records)
        self._proxy.setSortRole(Role.SORT)
        self.setModel(self._proxy)
        self.setAccessibleName(name)
        self.setSortingEnabled(True)
        self.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # keep the source order until a header is clicked
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTabKeyNavigation(False)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.selectionModel().currentRowChanged.connect(self._on_current_row_changed)

    def select_row(self, row: int) -> None:
        """Select the ``row``-th visible row (keyboard users get the same via arrow keys)."""
        self.setCurrentIndex(self._proxy.index(row, 0))

    def visible_records(self) -> list[Any]:
        return [self._proxy.index(r, 0).data(Role.RECORD) for r in range(self._proxy.rowCount())]

    def _on_current_row_changed(self, current: Any, previous: Any) -> None:
        if current.isValid():
            self.record_selected.emit(current.data(Role.RECORD))


def _labelled(text: str, buddy: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


class HubTab(QWidget):
    """Search the Hub: text, GGUF-only filter, sort order, paging.

    Signals:
        search_requested(object): a SearchQuery to run.
        summary_selected(object): the ModelSummary the user selected.
    """

    search_requested = Signal(object)
    summary_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QLineEdit()
        self.text.setPlaceholderText("e.g. qwen 7b instruct")
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(self._on_search_clicked)
        self.gguf_only = QCheckBox("&GGUF files only")
        self.gguf_only.setToolTip("Only repos that already offer .gguf files, ready to download.")
        self.sort = QComboBox()
        for key, label in SORT_LABELS.items():
            self.sort.addItem(label, key)
        search = QPushButton(svg_icon("action-search"), "Search")  # Enter in the text field searches too
        search.clicked.connect(self._on_search_clicked)
        self.more = QPushButton("Mor&e results")
        self.more.clicked.connect(self._on_more_clicked)
        self.more.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = RecordTable(SUMMARY_COLUMNS, "Search results")
        self.table.record_selected.connect(self.summary_selected)
        self._last: SearchQuery | None = None
        row = QHBoxLayout()
        row.addWidget(_labelled("Search te&xt:", self.text))
        row.addWidget(self.text, 1)
        row.addWidget(search)
        options = QHBoxLayout()
        options.addWidget(self.gguf_only)
        options.addStretch(1)
        options.addWidget(_labelled("S&ort by:", self.sort))
        options.addWidget(self.sort)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(options)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.more, 0, Qt.AlignmentFlag.AlignRight)
        for first, second in ((self.text, search), (search, self.gguf_only), (self.gguf_only, self.sort),
                              (self.sort, self.table), (self.table, self.more)):
            QWidget.setTabOrder(first, second)

    def query(self, page: int = 0) -> SearchQuery:
        return SearchQuery(text=self.text.text().strip(), gguf_only=self.gguf_only.isChecked(),
                           sort=self.sort.currentData(), page=page)

    def show_page(self, page: SearchPage) -> None:
        """Show one page of results (page 0 replaces, later pages append)."""
        if page.query.page == 0:
            self.table.records.set_records(page.results)
        else:
            self.table.records.append_records(page.results)
        self._last = page.query
        self.more.setVisible(page.has_more)
        count = self.table.records.rowCount()
        found = f"{count} model{'s' if count != 1 else ''}" if count else "No models match."
        self.status.setText(f"{page.notice} {found}" if page.notice else found)

    def show_error(self, text: str) -> None:
        self.status.setText(text)
        self.more.hide()

    def _on_search_clicked(self) -> None:
        self.status.setText("Searching...")
        self.search_requested.emit(self.query())

    def _on_more_clicked(self) -> None:
        if self._last is not None:
            self.status.setText("Loading more...")
            self.search_requested.emit(self.query(self._last.page + 1))


class CacheTab(QWidget):
    """Models already in the Hugging Face cache. Signals: refresh_requested(), cached_selected(object)."""

    refresh_requested = Signal()
    cached_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = RecordTable(CACHED_COLUMNS, "Downloaded models")
        self.table.record_selected.connect(self.cached_selected)
        self.status = QLabel("Looking for downloaded models...")
        refresh = QPushButton(svg_icon("action-refresh"), "Loo&k again")
        refresh.clicked.connect(self.refresh_requested)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def show_models(self, models: Sequence[Any]) -> None:
        self.table.records.set_records(models)
        self.status.setText(f"{len(models)} model(s) in the Hugging Face cache." if models
                            else "No models in the Hugging Face cache yet.")


class CatalogTab(QWidget):
    """The built-in catalog, filtered as you type. Signal: entry_selected(object)."""

    entry_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._catalog: Catalog | None = None
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, family or repo")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._on_filter_text_changed)
        self.table = RecordTable(CATALOG_COLUMNS, "Catalog models")
        self.table.record_selected.connect(self.entry_selected)
        row = QHBoxLayout()
        row.addWidget(_labelled("F&ilter:", self.filter))
        row.addWidget(self.filter, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)

    def set_catalog(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._on_filter_text_changed(self.filter.text())

    def _on_filter_text_changed(self, text: str) -> None:
        if self._catalog is not None:
            self.table.records.set_records(self._catalog.search(SearchQuery(text=text)))


class LocalTab(QWidget):
    """A checkpoint on this computer: choose or drop a GGUF, safetensors file or model folder.

    Signal: path_chosen(object) with a ``pathlib.Path``.
    """

    path_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None, *,
                 ask_file: Callable[[QWidget], str] | None = None,
                 ask_folder: Callable[[QWidget], str] | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._ask_file = ask_file or (lambda w: QFileDialog.getOpenFileName(
            w, "Choose a model file", "", "Models (*.gguf *.safetensors *.json);;All files (*)")[0])
        self._ask_folder = ask_folder or (lambda w: QFileDialog.getExistingDirectory(w, "Choose a model folder"))
        self.path = QLineEdit()
        self.path.setPlaceholderText("A .gguf, .safetensors or Hugging Face model folder")
        self.path.returnPressed.connect(self._on_open_clicked)
        open_button = QPushButton("Op&en")
        open_button.clicked.connect(self._on_open_clicked)
        choose_file = QPushButton("Choose f&ile...")
        choose_file.clicked.connect(self._on_choose_file_clicked)
        choose_folder = QPushButton("Choose fol&der...")
        choose_folder.clicked.connect(self._on_choose_folder_clicked)
        hint = QLabel("Or drop a checkpoint here. Pickled .bin/.pt files are refused: loading them can run code.")
        hint.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(_labelled("&Path:", self.path))
        row.addWidget(self.path, 1)
        row.addWidget(open_button)
        buttons = QHBoxLayout()
        buttons.addWidget(choose_file)
        buttons.addWidget(choose_folder)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(hint)
        layout.addStretch(1)

    def choose(self, path: Path) -> None:
        self.path.setText(str(path))
        self.path_chosen.emit(path)

    def _on_open_clicked(self) -> None:
        if self.path.text().strip():
            self.choose(Path(self.path.text().strip()).expanduser())

    def _on_choose_file_clicked(self) -> None:
        if chosen := self._ask_file(self):
            self.choose(Path(chosen))

    def _on_choose_folder_clicked(self) -> None:
        if chosen := self._ask_folder(self):
            self.choose(Path(chosen))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.choose(Path(urls[0].toLocalFile()))
