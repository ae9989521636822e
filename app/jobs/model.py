"""The job queue as a Qt list model: one row per job, read through typed roles."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from app.jobs.job import Job, JobState
from app.jobs.queue import JobQueue

_Index = QModelIndex | QPersistentModelIndex


class Role(IntEnum):
    """Data roles beyond Qt's display and tooltip roles."""

    JOB = Qt.ItemDataRole.UserRole + 1  # the Job record itself
    JOB_ID = Qt.ItemDataRole.UserRole + 2
    STATE = Qt.ItemDataRole.UserRole + 3  # JobState
    FRACTION = Qt.ItemDataRole.UserRole + 4  # float 0..1
    DETAIL = Qt.ItemDataRole.UserRole + 5  # the second line: progress figures, output or reason
    COMMAND = Qt.ItemDataRole.UserRole + 6  # the llama-server command once done, else None
    OUTPUT = Qt.ItemDataRole.UserRole + 7  # Path of the output once planned, else None


class JobListModel(QAbstractListModel):
    """Adapts a JobQueue; rows follow the queue's order and update as jobs progress."""

    def __init__(self, queue: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue = queue
        queue.about_to_insert.connect(self._on_queue_about_to_insert)
        queue.inserted.connect(self._on_queue_inserted)
        queue.about_to_remove.connect(self._on_queue_about_to_remove)
        queue.removed.connect(self._on_queue_removed)
        queue.about_to_move.connect(self._on_queue_about_to_move)
        queue.moved.connect(self._on_queue_moved)
        queue.job_changed.connect(self._on_queue_job_changed)

    @property
    def queue(self) -> JobQueue:
        return self._queue

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._queue.jobs)

    def job_at(self, index: _Index) -> Job | None:
        if not index.isValid() or not 0 <= index.row() < len(self._queue.jobs):
            return None
        return self._queue.jobs[index.row()]

    def index_of(self, job_id: int) -> QModelIndex:
        return self.index(self._queue.jobs.row_of(job_id), 0)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        job = self.job_at(index)
        if job is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return job.title
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return f"{job.title}: {job.state_text}. {job.detail_text()}"
        getter = _ROLE_DATA.get(role)
        return getter(job) if getter is not None else None

    def roleNames(self) -> dict[int, bytes]:
        names = super().roleNames()
        names.update({role.value: role.name.lower().encode() for role in Role})
        return names

    def _on_queue_about_to_insert(self, row: int) -> None:
        self.beginInsertRows(QModelIndex(), row, row)

    def _on_queue_inserted(self, row: int) -> None:
        self.endInsertRows()

    def _on_queue_about_to_remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)

    def _on_queue_removed(self, row: int) -> None:
        self.endRemoveRows()

    def _on_queue_about_to_move(self, old_row: int, new_row: int) -> None:
        # Qt wants the row the item goes *before*, counted in the list as it is before the move.
        destination = new_row + 1 if new_row > old_row else new_row
        self.beginMoveRows(QModelIndex(), old_row, old_row, QModelIndex(), destination)

    def _on_queue_moved(self, old_row: int, new_row: int) -> None:
        self.endMoveRows()

    def _on_queue_job_changed(self, job_id: int) -> None:
        try:
            index = self.index_of(job_id)
        except KeyError:
            return
        self.dataChanged.emit(index, index)


_ROLE_DATA = {
    Role.JOB: lambda job: job,
    Role.JOB_ID: lambda job: job.id,
    Role.STATE: lambda job: job.state,
    Role.FRACTION: lambda job: job.fraction,
    Role.DETAIL: lambda job: job.detail_text(),
    Role.COMMAND: lambda job: job.server_command(),
    Role.OUTPUT: lambda job: job.output,
}

__all__ = ["JobListModel", "JobState", "Role"]
