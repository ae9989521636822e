"""Uncaught exceptions: expected errors as plain dialogs, bugs with a crash log whose path is shown."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox, QWidget

from app.errors import ErrorReport, ExceptHook, install, report_for, show_error, show_report, uninstall
from engine.errors import OutOfDiskError

pytestmark = pytest.mark.gui


def raised(exc: BaseException) -> tuple[type[BaseException], BaseException, object]:
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001
        return type(e), e, e.__traceback__


def test_expected_error_keeps_its_words_and_writes_no_log(tmp_path: Path) -> None:
    report = report_for(*raised(OutOfDiskError("The disk is full.")), log_dir=tmp_path)
    assert report.expected and report.text == "The disk is full."
    assert report.hint == OutOfDiskError.default_hint
    assert "Traceback" in report.details and report.crash_log is None
    assert list(tmp_path.iterdir()) == []


def test_bug_writes_a_crash_log_and_names_it(tmp_path: Path) -> None:
    report = report_for(*raised(KeyError("tensor")), log_dir=tmp_path / "logs")
    assert not report.expected and report.crash_log is not None
    assert report.crash_log.parent == tmp_path / "logs"
    assert str(report.crash_log) in report.hint
    assert "KeyError" in report.text
    content = report.crash_log.read_text()
    assert "Quantpick" in content and "KeyError: 'tensor'" in content


def test_unwritable_log_folder_still_reports(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    report = report_for(*raised(RuntimeError("x")), log_dir=blocker / "logs")
    assert report.crash_log is None and "could not be saved" in report.hint


def test_dialog_shows_message_hint_and_details(qtbot, tmp_path: Path) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    report = report_for(*raised(RuntimeError("kaput")), log_dir=tmp_path)
    box = show_report(report, parent)
    assert box.isVisible()
    assert box.text() == report.text and box.informativeText() == report.hint
    assert "RuntimeError: kaput" in box.detailedText()
    assert box.icon() is QMessageBox.Icon.Critical
    box.close()
    expected = show_error(OutOfDiskError("Full."), parent)
    assert expected.icon() is QMessageBox.Icon.Warning and expected.text() == "Full."
    expected.close()


def test_hook_shows_one_dialog_at_a_time(qtbot, tmp_path: Path) -> None:
    shown: list[QMessageBox] = []

    def present(report: ErrorReport, parent: QWidget | None) -> QMessageBox:
        box = show_report(report, parent)
        shown.append(box)
        return box

    hook = ExceptHook(log_dir=tmp_path, present=present)
    previous = install(hook)
    try:
        assert sys.excepthook is hook
        hook(*raised(OutOfDiskError("one")))
        hook(*raised(ValueError("two")))  # logged and recorded while the first dialog is open
        assert len(shown) == 1 and len(hook.reports) == 2
        shown[0].done(0)
        hook(*raised(ValueError("three")))
        assert len(shown) == 2 and shown[1].text().startswith("Quantpick ran into")
        shown[1].done(0)
    finally:
        uninstall(previous)
    assert sys.excepthook is previous
