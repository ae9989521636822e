"""The wizard's last two pages: Action (download the ready-made GGUF, or convert here) and Done (the command).

Looking for a ready-made file in the catalog's GGUF repos is a Hub look-up, so it runs on the runner.
Leaving the Action page hands the request to the wizard, which emits it for the main window's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QRadioButton, QWizard,
)

from app.widgets.background import BackgroundRunner, describe_error
from app.widgets.requests import ConversionRequest, DownloadRequest
from app.widgets.svg_icons import svg_icon
from app.widgets.units import fmt_bytes
from app.wizard.pages import StatePage
from app.wizard.state import ActionKind, ReadyFile, Step, WizardState
from engine.hub import GGUFVariant

_LOOKUP = "wizard.ready"


def find_ready(client: Any, repos: tuple[str, ...], file_type: str) -> ReadyFile | None:
    """The first of ``repos`` that offers ``file_type`` as a ready-made GGUF (worker thread: Hub look-ups)."""
    for repo in repos:
        variant: GGUFVariant | None = client.details(repo).variant(file_type)
        if variant is not None and variant.complete:
            return ReadyFile(repo, variant)
    return None


class ActionPage(StatePage):
    """Download the existing GGUF from the Hub, or convert locally into the job queue."""

    def __init__(self, state: WizardState, *, client_factory: Callable[[], Any], runner: BackgroundRunner,
                 submit: Callable[[DownloadRequest | ConversionRequest], None],
                 ask_folder: Callable[[], str] | None = None) -> None:
        super().__init__(state, Step.ACTION, "Get the file",
                         "Download a ready-made GGUF of the chosen type, or convert the model on this computer.")
        self._client_factory = client_factory
        self._submit = submit
        self._ask_folder = ask_folder or self._folder_dialog
        self._runner = runner
        self._user_chose = False
        runner.finished.connect(self._on_runner_finished)
        runner.failed.connect(self._on_runner_failed)
        self.download = QRadioButton("&Download the ready-made GGUF from Hugging Face")
        self.download_info = QLabel()
        self.convert = QRadioButton("&Convert on this computer")
        self.convert_info = QLabel()
        for label in (self.download_info, self.convert_info):
            label.setWordWrap(True)
            label.setIndent(24)
        self.group = QButtonGroup(self)
        self.group.addButton(self.download)
        self.group.addButton(self.convert)
        self.group.buttonClicked.connect(self._on_group_button_clicked)
        self.out_dir = QLineEdit()
        self.out_dir.setPlaceholderText("the default output folder")
        self.out_dir.textChanged.connect(self._on_out_dir_text_changed)
        browse = QPushButton("Bro&wse...")
        browse.clicked.connect(self._on_browse_clicked)
        out_label = QLabel("&Output folder:")
        out_label.setBuddy(self.out_dir)
        row = QHBoxLayout()
        row.addSpacing(24)
        row.addWidget(out_label)
        row.addWidget(self.out_dir, 1)
        row.addWidget(browse)
        for widget in (self.download, self.download_info, self.convert, self.convert_info):
            self.layout_.addWidget(widget)
        self.layout_.addLayout(row)
        self.layout_.addStretch(1)
        self.finish_layout()
        self.setCommitPage(True)  # the request goes out here: no way back to send it twice
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Start")

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        self._user_chose = False
        row = self.state.chosen_row()
        file_type = row.file_type if row is not None else "?"
        if self.state.ready_in_repo() is None and self.state.ready is None and self.state.gguf_repos():
            repos, factory = self.state.gguf_repos(), self._client_factory
            self.download_info.setText(f"Looking for a ready-made {file_type} file on Hugging Face...")
            self._runner.submit(_LOOKUP, lambda: find_ready(factory(), repos, file_type))
        self._refresh()

    def _refresh(self) -> None:
        actions = self.state.actions()
        ready = self.state.ready_in_repo() or self.state.ready
        self.download.setEnabled(ActionKind.DOWNLOAD in actions)
        if ready is not None:
            v = ready.variant
            parts = f" in {v.shard_count} parts" if v.is_split else ""
            self.download_info.setText(f"{v.first_file.name}{parts} from {ready.repo_id}, {fmt_bytes(v.size)}.")
        elif not self._runner.is_pending(_LOOKUP):
            self.download_info.setText("No ready-made file of this type was found.")
        origin = self.state.conversion_source()
        self.convert.setEnabled(origin is not None)
        self.out_dir.setEnabled(origin is not None)
        if origin is None:
            self.convert_info.setText("There are no weights to convert (this repo holds GGUF files only).")
        elif origin[0] is not None:
            self.convert_info.setText(f"From {origin[0]}; the conversion joins the job queue.")
        else:
            self.convert_info.setText(f"Downloads the safetensors weights of {origin[1]} first, then converts them "
                                      "in the job queue.")
        if not self._user_chose or self.state.action not in actions:
            self.state.action = actions[0] if actions else None  # a ready file is the quicker way
        self.download.setChecked(self.state.action is ActionKind.DOWNLOAD)
        self.convert.setChecked(self.state.action is ActionKind.CONVERT)
        self.changed()

    def validatePage(self) -> bool:  # noqa: N802 - Qt override
        if self.state.missing(Step.ACTION) is not None:
            return False
        self.state.out_dir = Path(self.out_dir.text()).expanduser() if self.out_dir.text().strip() else None
        request = self.state.request()
        self.state.submitted = request
        self._submit(request)
        return True

    def _on_group_button_clicked(self, button: QRadioButton) -> None:
        self.state.action = ActionKind.DOWNLOAD if button is self.download else ActionKind.CONVERT
        self._user_chose = True
        self.changed()

    def _on_out_dir_text_changed(self, text: str) -> None:
        self.state.out_dir = Path(text).expanduser() if text.strip() else None

    def _folder_dialog(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Output folder")

    def _on_browse_clicked(self) -> None:
        if chosen := self._ask_folder():
            self.out_dir.setText(chosen)

    def _on_runner_finished(self, key: str, result: object) -> None:
        if key == _LOOKUP:
            self.state.ready = result if isinstance(result, ReadyFile) else None
            self._refresh()

    def _on_runner_failed(self, key: str, error: object) -> None:
        if key == _LOOKUP:
            message = describe_error(error) if isinstance(error, BaseException) else str(error)
            self._refresh()
            self.download_info.setText(f"Could not look for a ready-made file: {message}")


class DonePage(StatePage):
    """What happens next, and the command that runs the model once the file is there."""

    def __init__(self, state: WizardState) -> None:
        super().__init__(state, Step.DONE, "Done", "The file is on its way; this is how to run it.")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.command = QPlainTextEdit()
        self.command.setReadOnly(True)
        self.command.setAccessibleName("Command to run the model")
        self.command.setMaximumHeight(self.fontMetrics().height() * 5)
        copy = QPushButton(svg_icon("action-copy"), "Copy the &command")
        copy.clicked.connect(self._on_copy_clicked)
        row = QHBoxLayout()
        row.addWidget(copy)
        row.addStretch(1)
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.command)
        self.layout_.addLayout(row)
        self.layout_.addStretch(1)
        self.finish_layout()
        self.setFinalPage(True)

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        request = self.state.submitted
        if isinstance(request, DownloadRequest):
            self.summary.setText(f"Downloading {request.variant.name} from {request.repo_id} "
                                 f"({fmt_bytes(request.variant.size)}). Follow it in the main window. "
                                 "When it is there, run it with:")
        elif isinstance(request, ConversionRequest):
            source = request.source or request.repo_id
            self.summary.setText(f"Converting {source} to {request.ftype.name} was added to the job queue. "
                                 "When the job is done it shows the exact command; it will look like this:")
        self.command.setPlainText(request.run_command if request is not None else "")

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.command.toPlainText())
