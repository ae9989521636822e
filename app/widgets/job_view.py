"""The conversion queue on screen: one painted row per job, with its progress bar and buttons.

Rows are drawn by a delegate (title, progress bar, figures, and the llama-server command when done);
clicks on a row's buttons come back as ``(job id, JobAction)``. The same actions sit in a toolbar with
keyboard shortcuts, acting on the selected job, so everything works without a mouse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction, QDesktopServices, QFont, QFontDatabase, QFontMetrics, QGuiApplication, QKeySequence,
    QMouseEvent, QPainter, QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QLabel, QListView, QStyle, QStyledItemDelegate, QStyleOptionButton,
    QStyleOptionProgressBar, QStyleOptionViewItem, QToolButton, QVBoxLayout, QWidget,
)

from app.jobs.job import Job, JobAction, JobState, allowed_actions, row_actions
from app.jobs.model import JobListModel, Role
from app.widgets.svg_icons import svg_icon

PAD = 8
GAP = 4
BUTTON_PAD = 10
EMPTY_TEXT = "Conversions you start appear here. Drop a model anywhere on this window to begin."

_STATE_ICONS = {
    JobState.RUNNING: "action-convert", JobState.CANCELLING: "job-cancel", JobState.DONE: "state-done",
    JobState.FAILED: "state-failed", JobState.CANCELLED: "job-cancel",
}
_ACTION_ICONS = {
    JobAction.CANCEL: "job-cancel", JobAction.REMOVE: "job-remove", JobAction.SHOW_FOLDER: "folder-open",
    JobAction.COPY_COMMAND: "action-copy", JobAction.MOVE_UP: "job-move-up", JobAction.MOVE_DOWN: "job-move-down",
}
_ACTION_KEYS = {
    JobAction.MOVE_UP: "Ctrl+Up", JobAction.MOVE_DOWN: "Ctrl+Down", JobAction.REMOVE: "Delete",
    JobAction.CANCEL: "Ctrl+.", JobAction.COPY_COMMAND: "Ctrl+Shift+C", JobAction.SHOW_FOLDER: "Ctrl+Shift+F",
}


def _mono(font: QFont) -> QFont:
    mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    mono.setPointSizeF(font.pointSizeF())
    return mono


class JobDelegate(QStyledItemDelegate):
    """Paints a job row and turns clicks on its buttons into ``action_clicked``.

    Signals:
        action_clicked(int, object): job id and the JobAction whose button was clicked.
    """

    action_clicked = Signal(int, object)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        fm = option.fontMetrics
        job: Job | None = index.data(Role.JOB)
        lines = 2 if job is not None and job.state is JobState.DONE else 1
        height = 2 * PAD + self._button_height(fm) + GAP + self._bar_height(fm) + lines * (GAP + fm.height())
        return QSize(fm.horizontalAdvance("x") * 60, height)

    @staticmethod
    def _button_height(fm: QFontMetrics) -> int:
        return fm.height() + 8

    @staticmethod
    def _bar_height(fm: QFontMetrics) -> int:
        return max(6, fm.height() // 2)

    def button_rects(self, rect: QRect, fm: QFontMetrics, job: Job) -> list[tuple[JobAction, QRect]]:
        """Where the row's buttons are, right-aligned on its first line."""
        right = rect.right() - PAD
        height = self._button_height(fm)
        rects: list[tuple[JobAction, QRect]] = []
        for action in reversed(row_actions(job)):
            width = fm.horizontalAdvance(action.value) + 2 * BUTTON_PAD
            rects.append((action, QRect(right - width + 1, rect.top() + PAD, width, height)))
            right -= width + GAP
        return list(reversed(rects))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        job: Job | None = index.data(Role.JOB)
        if job is None:
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is None:
            return
        opt.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        painter.setPen(opt.palette.color(role))
        fm = opt.fontMetrics
        rect = opt.rect
        buttons = self.button_rects(rect, fm, job)
        top = rect.top() + PAD
        line_h = self._button_height(fm)
        left = rect.left() + PAD
        icon_name = _STATE_ICONS.get(job.state)
        if icon_name:
            size = fm.height()
            svg_icon(icon_name).paint(painter, QRect(left, top + (line_h - size) // 2, size, size))
        left += fm.height() + GAP
        title_right = (buttons[0][1].left() - GAP) if buttons else rect.right() - PAD
        bold = QFont(opt.font)
        bold.setBold(True)
        painter.setFont(bold)
        title = f"{job.title}   \u00b7   {job.state_text}"
        title_rect = QRect(left, top, max(0, title_right - left), line_h)
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         QFontMetrics(bold).elidedText(title, Qt.TextElideMode.ElideRight, title_rect.width()))
        painter.setFont(opt.font)
        for action, button_rect in buttons:
            self._paint_button(painter, style, opt, action, button_rect)
        y = top + line_h + GAP
        width = rect.width() - 2 * PAD
        self._paint_bar(painter, style, opt, job, QRect(rect.left() + PAD, y, width, self._bar_height(fm)))
        y += self._bar_height(fm) + GAP
        elide = Qt.TextElideMode.ElideMiddle if job.state is JobState.DONE else Qt.TextElideMode.ElideRight
        detail_rect = QRect(rect.left() + PAD, y, width, fm.height())
        painter.drawText(detail_rect, Qt.AlignmentFlag.AlignLeft, fm.elidedText(job.detail_text(), elide, width))
        command = job.server_command()
        if command is not None:
            y += fm.height() + GAP
            mono = _mono(opt.font)
            painter.setFont(mono)
            text = QFontMetrics(mono).elidedText(f"$ {command}", Qt.TextElideMode.ElideMiddle, width)
            painter.drawText(QRect(rect.left() + PAD, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft, text)
        painter.restore()

    def _paint_button(self, painter: QPainter, style: QStyle, opt: QStyleOptionViewItem, action: JobAction,
                      rect: QRect) -> None:
        button = QStyleOptionButton()
        button.rect = rect
        button.text = action.value
        button.palette = opt.palette
        button.fontMetrics = opt.fontMetrics
        button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, opt.widget)

    def _paint_bar(self, painter: QPainter, style: QStyle, opt: QStyleOptionViewItem, job: Job, rect: QRect) -> None:
        bar = QStyleOptionProgressBar()
        bar.rect = rect
        bar.palette = opt.palette
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = round(job.fraction * 1000)
        bar.textVisible = False
        bar.state = QStyle.StateFlag.State_Horizontal
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            bar.state |= QStyle.StateFlag.State_Enabled
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, opt.widget)

    def editorEvent(self, event: QEvent, model: object, option: QStyleOptionViewItem,
                    index: QModelIndex | QPersistentModelIndex) -> bool:
        if event.type() not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
            return False
        assert isinstance(event, QMouseEvent)
        job: Job | None = index.data(Role.JOB)
        if job is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        point = event.position().toPoint()
        for action, rect in self.button_rects(option.rect, option.fontMetrics, job):
            if rect.contains(point):
                if event.type() == QEvent.Type.MouseButtonRelease:
                    self.action_clicked.emit(job.id, action)
                return True
        return False


class _QueueListView(QListView):
    """A list view that says what will appear in it while it is empty."""

    def paintEvent(self, event: object) -> None:  # type: ignore[override]
        super().paintEvent(event)  # type: ignore[arg-type]
        model = self.model()
        if model is not None and model.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
            painter.drawText(self.viewport().rect().adjusted(16, 16, -16, -16),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, EMPTY_TEXT)


class JobView(QWidget):
    """The queue: a toolbar of actions for the selected job over the painted list.

    Args:
        model: The queue's list model.
        open_folder: Opens a folder in the file manager (tests replace it).
    """

    def __init__(self, model: JobListModel, parent: QWidget | None = None, *,
                 open_folder: Callable[[Path], object] | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._open_folder = open_folder or (lambda p: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))))
        self._list = _QueueListView()
        self._list.setModel(model)
        self._delegate = JobDelegate(self._list)
        self._list.setItemDelegate(self._delegate)
        self._list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self._list.setMouseTracking(True)
        self._list.setAccessibleName("Conversion queue")
        self._list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._delegate.action_clicked.connect(self._on_delegate_action_clicked)
        self._actions = {action: self._make_action(action) for action in JobAction}
        title = QLabel("<b>Conversion queue</b>")
        bar = QHBoxLayout()
        bar.addWidget(title)
        bar.addStretch(1)
        for action in (JobAction.MOVE_UP, JobAction.MOVE_DOWN, JobAction.CANCEL, JobAction.REMOVE,
                       JobAction.SHOW_FOLDER, JobAction.COPY_COMMAND):
            button = QToolButton()
            button.setDefaultAction(self._actions[action])
            button.setAutoRaise(True)
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self._list)
        selection = self._list.selectionModel()
        selection.currentChanged.connect(self._on_selection_current_changed)
        model.dataChanged.connect(self._on_model_data_changed)
        model.rowsInserted.connect(self._on_model_rows_inserted)
        model.rowsRemoved.connect(self._on_model_data_changed)
        model.rowsMoved.connect(self._on_model_data_changed)
        self._update_actions()

    @property
    def list_view(self) -> QListView:
        return self._list

    @property
    def delegate(self) -> JobDelegate:
        return self._delegate

    def action(self, action: JobAction) -> QAction:
        return self._actions[action]

    def selected_job(self) -> Job | None:
        return self._model.job_at(self._list.currentIndex())

    def select(self, job_id: int) -> None:
        self._list.setCurrentIndex(self._model.index_of(job_id))

    def trigger(self, job_id: int, action: JobAction) -> None:
        """Do ``action`` to the job with ``job_id`` if it applies now."""
        queue = self._model.queue
        if action not in allowed_actions(queue.jobs, job_id):
            return
        job = queue.job(job_id)
        row = queue.jobs.row_of(job_id)
        if action is JobAction.CANCEL:
            queue.cancel(job_id)
        elif action is JobAction.REMOVE:
            queue.remove(job_id)
        elif action is JobAction.MOVE_UP or action is JobAction.MOVE_DOWN:
            queue.move(job_id, row - 1 if action is JobAction.MOVE_UP else row + 1)
            self.select(job_id)
        elif action is JobAction.SHOW_FOLDER and job.output is not None:
            self._open_folder(job.output.parent)
        elif action is JobAction.COPY_COMMAND and job.server_command():
            QGuiApplication.clipboard().setText(job.server_command() or "")
        self._update_actions()

    def _make_action(self, action: JobAction) -> QAction:
        qaction = QAction(svg_icon(_ACTION_ICONS[action]), action.value, self)
        qaction.setShortcut(QKeySequence(_ACTION_KEYS[action]))
        qaction.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        qaction.setToolTip(f"{action.value} ({QKeySequence(_ACTION_KEYS[action]).toString()})")
        qaction.triggered.connect(lambda _checked=False, a=action: self._on_action_triggered(a))
        self._list.addAction(qaction)
        self.addAction(qaction)
        return qaction

    def _update_actions(self) -> None:
        job = self.selected_job()
        allowed = allowed_actions(self._model.queue.jobs, job.id) if job is not None else frozenset()
        for action, qaction in self._actions.items():
            qaction.setEnabled(action in allowed)

    def _on_action_triggered(self, action: JobAction) -> None:
        job = self.selected_job()
        if job is not None:
            self.trigger(job.id, action)

    def _on_delegate_action_clicked(self, job_id: int, action: JobAction) -> None:
        self.trigger(job_id, action)

    def _on_selection_current_changed(self, *_args: object) -> None:
        self._update_actions()

    def _on_model_data_changed(self, *_args: object) -> None:
        self._update_actions()

    def _on_model_rows_inserted(self, _parent: QModelIndex, first: int, _last: int) -> None:
        if not self._list.currentIndex().isValid():
            self._list.setCurrentIndex(self._model.index(first, 0))
        self._update_actions()
