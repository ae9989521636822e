"""Drop a model, see what it is, pick the file types and the folder, then Convert.

The window forwards every drop here (``add_paths``). Each path is inspected off the GUI thread; the list
shows what it is or, for pickled checkpoints and other refusals, the reason in the engine's words. The
types preselected are the user's defaults (Q4_K_M unless changed), each with a tooltip that decodes it.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDropEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QCheckBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
    QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from app.jobs.job import JobFailure
from app.jobs.inspect import DropItem, allowed_types, inspect_path, summary_lines
from app.widgets.background import BackgroundRunner
from app.widgets.svg_icons import svg_icon
from engine.quant.ftypes import FILE_TYPES, FileType

_KEY = "inspect:"
SEPARATOR = " \u00b7 "
TYPE_COLUMNS = 5
HINT = ("Drop a model anywhere on this window: a Hugging Face folder, a .safetensors file inside one, or a "
        ".gguf file (the first part of a split GGUF is enough).")


def local_paths(urls: list[QUrl]) -> list[Path]:
    """The local files among dropped URLs (web links are ignored), without duplicates, in order."""
    seen: list[Path] = []
    for url in urls:
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path not in seen:
                seen.append(path)
    return seen


class WindowDropFilter(QObject):
    """Sends models dropped anywhere on a window to the drop area, even onto a text field.

    Installed on the application; it only takes drags of local files over widgets of its window, so
    dragging text between fields still works.

    Signals:
        paths_dropped(object): list[Path] dropped.
        drag_active(bool): a drag of files entered (True) or left/ended (False).
    """

    paths_dropped = Signal(object)
    drag_active = Signal(bool)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in _DRAG_EVENTS or not isinstance(watched, QWidget) or watched.window() is not self._window:
            return False
        if kind == QEvent.Type.DragLeave:
            self.drag_active.emit(False)
            return False
        assert isinstance(event, QDropEvent)  # QDragEnterEvent and QDragMoveEvent derive from it
        paths = local_paths(event.mimeData().urls()) if event.mimeData() is not None else []
        if not paths:
            return False
        event.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            self.drag_active.emit(False)
            self.paths_dropped.emit(paths)
        else:
            self.drag_active.emit(True)
        return True


_DRAG_EVENTS = frozenset({QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.DragLeave, QEvent.Type.Drop})


class _DropZone(QFrame):
    """The dashed target; it lights up while something is dragged over the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.active = False
        self.setMinimumHeight(self.fontMetrics().height() * 5)

    def paintEvent(self, event: object) -> None:  # type: ignore[override]
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        role = QPalette.ColorRole.Highlight if self.active else QPalette.ColorRole.Mid
        colour = QColor(self.palette().color(role))
        if self.active:
            fill = QColor(colour)
            fill.setAlpha(40)
            painter.setBrush(fill)
        pen = QPen(colour, 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 10, 10)


class DropArea(QWidget):
    """Inspect dropped models and request conversions.

    Signals:
        convert_requested(object, object, object): sources (list[Path]) paired with their file types
            (list[tuple[FileType, ...]]), and the output folder (Path).
        output_dir_changed(object): the user picked another output folder (Path).
    """

    convert_requested = Signal(object, object, object)
    output_dir_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, default_types: tuple[FileType, ...] = (),
                 output_dir: Path | None = None, runner: BackgroundRunner | None = None) -> None:
        super().__init__(parent)
        self._runner = runner if runner is not None else BackgroundRunner(self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._items: dict[Path, DropItem | None] = {}  # None while being inspected
        self._zone = _DropZone()
        self._list = QListWidget()
        self._list.setWordWrap(True)
        self._list.setAccessibleName("Dropped models")
        self._list.setIconSize(QSize(20, 20))
        self._list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self._list.setMaximumHeight(self.fontMetrics().height() * 7)
        self._list.currentItemChanged.connect(self._on_list_current_item_changed)
        self._details = QLabel()
        self._details.setObjectName("dropDetails")
        self._details.setWordWrap(True)
        self._details.setTextFormat(Qt.TextFormat.RichText)
        self._details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._type_boxes = self._build_type_boxes(default_types)
        self._folder = QLineEdit(str(output_dir) if output_dir is not None else "")
        self._folder.setAccessibleName("Output folder")
        self._folder.setAcceptDrops(False)  # a dropped model goes to the window, not into the text
        self._folder.editingFinished.connect(self._on_folder_editing_finished)
        self._convert = QPushButton(svg_icon("action-convert"), "&Convert")
        self._convert.setDefault(True)
        self._convert.clicked.connect(self._on_convert_clicked)
        self._status = QLabel()
        self._status.setObjectName("dropStatus")
        self._status.setWordWrap(True)
        self._build_layout()
        self._update_state()

    # -- public API ---------------------------------------------------------------------------------

    def add_paths(self, paths: list[Path]) -> None:
        """Inspect these paths in the background; each appears in the list at once as "Checking..."."""
        for path in paths:
            path = Path(path)
            if path in self._items:
                continue
            self._items[path] = None
            item = QListWidgetItem(f"{path.name or path}: checking what this is...")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self._list.addItem(item)
            self._list.setCurrentItem(item)
            self._runner.submit(_KEY + str(path), lambda p=path: inspect_path(p))
        self._update_state()

    def set_drag_active(self, active: bool) -> None:
        """Highlight the drop zone while a drag is over the window."""
        self._zone.active = active
        self._zone.update()

    def set_selected_types(self, types: tuple[FileType, ...]) -> None:
        wanted = {ft.name for ft in types}
        for name, box in self._type_boxes.items():
            box.setChecked(name in wanted)

    def selected_types(self) -> tuple[FileType, ...]:
        return tuple(ft for ft in FILE_TYPES if self._type_boxes[ft.name].isChecked())

    def output_dir(self) -> Path:
        return Path(self._folder.text().strip()).expanduser()

    def items(self) -> list[DropItem | None]:
        return list(self._items.values())

    def is_busy(self) -> bool:
        return any(item is None for item in self._items.values())

    def clear(self) -> None:
        self._items.clear()
        self._list.clear()
        self._update_state()

    def convert_button(self) -> QPushButton:
        return self._convert

    # -- building -----------------------------------------------------------------------------------

    def _build_type_boxes(self, defaults: tuple[FileType, ...]) -> dict[str, QCheckBox]:
        chosen = {ft.name for ft in defaults}
        boxes: dict[str, QCheckBox] = {}
        for ft in FILE_TYPES:
            box = QCheckBox(ft.name)
            box.setToolTip(f"{ft.name}: {ft.description}")
            box.setChecked(ft.name in chosen)
            box.toggled.connect(self._on_type_toggled)
            boxes[ft.name] = box
        return boxes

    def _build_layout(self) -> None:
        icon = QLabel()
        size = self.fontMetrics().height() * 3
        icon.setPixmap(svg_icon("drop-model").pixmap(size, size))
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        open_file = QPushButton(svg_icon("action-open"), "Open &file...")
        open_file.clicked.connect(self.open_file_dialog)
        open_folder = QPushButton(svg_icon("folder-open"), "Open fo&lder...")
        open_folder.clicked.connect(self.open_folder_dialog)
        zone = QHBoxLayout(self._zone)
        zone.setContentsMargins(16, 12, 16, 12)
        zone.addWidget(icon)
        zone.addWidget(hint, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(open_file)
        buttons.addWidget(open_folder)
        zone.addLayout(buttons)
        grid = QGridLayout()
        for i, box in enumerate(self._type_boxes.values()):
            grid.addWidget(box, i // TYPE_COLUMNS, i % TYPE_COLUMNS)
        browse = QPushButton("&Browse...")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_label = QLabel("&Output folder:")
        folder_label.setBuddy(self._folder)
        folder_row.addWidget(folder_label)
        folder_row.addWidget(self._folder, 1)
        folder_row.addWidget(browse)
        action_row = QHBoxLayout()
        action_row.addWidget(self._status, 1)
        action_row.addWidget(self._convert)
        types_label = QLabel("<b>Convert to</b> (hover a type for what it means):")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._zone)
        layout.addWidget(self._list)
        layout.addWidget(self._details)
        layout.addWidget(types_label)
        layout.addLayout(grid)
        layout.addLayout(folder_row)
        layout.addLayout(action_row)
        layout.addStretch(1)

    # -- state --------------------------------------------------------------------------------------

    def _pairs(self) -> list[tuple[Path, tuple[FileType, ...]]]:
        chosen = self.selected_types()
        pairs = []
        for item in self._items.values():
            if item is not None and (types := allowed_types(item, chosen)):
                pairs.append((item.path, types))
        return pairs

    def _update_state(self) -> None:
        self._list.setVisible(bool(self._items))  # compact until something is dropped
        self._details.setVisible(bool(self._items))
        pairs = self._pairs()
        n_jobs = sum(len(types) for _, types in pairs)
        self._convert.setEnabled(n_jobs > 0 and bool(self._folder.text().strip()))
        if not self._items:
            status = "Nothing dropped yet."
        elif self.is_busy():
            status = "Checking what was dropped..."
        elif not self.selected_types():
            status = "Tick at least one file type."
        elif n_jobs == 0:
            status = "Nothing here can be converted to the ticked types."
        else:
            status = f"{n_jobs} conversion{'s' if n_jobs != 1 else ''} will be queued."
        self._status.setText(status)

    def _show_item(self, item: DropItem | None, path: Path) -> None:
        if item is None:
            self._details.setText(html.escape(f"Checking {path}..."))
            return
        parts = [f"<b>{html.escape(item.name)}</b> <small>({html.escape(str(item.path))})</small>"]
        if item.summary is not None:
            parts.append(html.escape(SEPARATOR.join(summary_lines(item.summary))))
        if item.failure is not None:
            parts.append(f"<b>Cannot convert:</b> {html.escape(item.failure.message)}")
            parts.append(html.escape(item.failure.hint))
        if item.note:
            parts.append(f"<i>{html.escape(item.note)}</i>")
        self._details.setText("<br>".join(parts))

    def _apply_result(self, path: Path, item: DropItem) -> None:
        self._items[path] = item
        for row in range(self._list.count()):
            widget_item = self._list.item(row)
            if widget_item.data(Qt.ItemDataRole.UserRole) == str(path):
                self._render(widget_item, item)
                if widget_item is self._list.currentItem():
                    self._show_item(item, path)
        self._update_state()

    def _render(self, widget_item: QListWidgetItem, item: DropItem) -> None:
        if item.failure is not None:
            said = item.failure.message
            widget_item.setText(said if said.startswith(item.name) else f"{item.name}: {said}")
            widget_item.setIcon(svg_icon("state-failed"))
        else:
            facts = summary_lines(item.summary) if item.summary is not None else []
            widget_item.setText(item.name + (": " + SEPARATOR.join(facts[:3]) if facts else ""))
            widget_item.setIcon(svg_icon("state-done"))
        widget_item.setToolTip(str(item.failure) if item.failure is not None else item.note or str(item.path))

    # -- slots --------------------------------------------------------------------------------------

    def _on_runner_finished(self, key: str, result: object) -> None:
        if key.startswith(_KEY) and isinstance(result, DropItem):
            path = Path(key[len(_KEY):])
            if path in self._items:
                self._apply_result(path, result)

    def _on_runner_failed(self, key: str, error: object) -> None:
        if key.startswith(_KEY):
            path = Path(key[len(_KEY):])
            if path in self._items and isinstance(error, BaseException):
                self._apply_result(path, DropItem(path, failure=JobFailure.from_exception(error)))

    def _on_list_current_item_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        if current is None:
            self._details.clear()
            return
        path = Path(current.data(Qt.ItemDataRole.UserRole))
        self._show_item(self._items.get(path), path)

    def _on_type_toggled(self, _checked: bool) -> None:
        self._update_state()

    def _on_folder_editing_finished(self) -> None:
        self._update_state()
        if self._folder.text().strip():
            self.output_dir_changed.emit(self.output_dir())

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self._folder.text())
        if folder:
            self._folder.setText(folder)
            self._on_folder_editing_finished()

    def open_file_dialog(self) -> None:
        """Ask for model files and inspect them."""
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open a model", "", "Models (*.gguf *.safetensors *.json);;All files (*)")
        self.add_paths([Path(f) for f in files])

    def open_folder_dialog(self) -> None:
        """Ask for a model folder and inspect it."""
        folder = QFileDialog.getExistingDirectory(self, "Open a Hugging Face model folder")
        if folder:
            self.add_paths([Path(folder)])

    def _on_convert_clicked(self) -> None:
        pairs = self._pairs()
        if not pairs:
            return
        self.convert_requested.emit([p for p, _ in pairs], [t for _, t in pairs], self.output_dir())
        n_jobs = sum(len(t) for _, t in pairs)
        self.clear()
        self._status.setText(f"Queued {n_jobs} conversion{'s' if n_jobs != 1 else ''}; see the queue below.")
