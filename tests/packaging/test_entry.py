"""The frozen entry script: model files given by a file manager open in the window; commands stay commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication, QMainWindow

from tests.packaging.conftest import load_script

entry = load_script("entry.py")


class FakeMainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[list[Path]] = []

    def open_paths(self, paths: list[Path]) -> None:
        self.opened.append(list(paths))


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, Path]:
    gguf, safetensors = tmp_path / "m.gguf", tmp_path / "model-00001.SAFETENSORS"
    gguf.write_bytes(b"GGUF")
    safetensors.write_bytes(b"{}")
    return gguf, safetensors


def test_only_existing_model_files_are_opened(models: tuple[Path, Path], tmp_path: Path) -> None:
    gguf, safetensors = models
    assert entry.openable_files([str(gguf), str(safetensors)]) == [gguf.resolve(), safetensors.resolve()]
    assert entry.openable_files([]) == []
    assert entry.openable_files(["convert", str(gguf), "-t", "Q8_0"]) == []  # a command line
    assert entry.openable_files([str(tmp_path / "missing.gguf")]) == []
    (tmp_path / "folder.gguf").mkdir()
    assert entry.openable_files([str(tmp_path / "folder.gguf")]) == []
    notes = tmp_path / "notes.txt"
    notes.write_text("x", encoding="utf-8")
    assert entry.openable_files([str(gguf), str(notes)]) == []


def test_display_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert not entry.has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert entry.has_display()


@pytest.mark.gui
def test_files_reach_the_window_at_start_and_later(qtbot, models: tuple[Path, Path]) -> None:
    gguf, safetensors = models
    app = QApplication.instance()
    window = FakeMainWindow()
    qtbot.addWidget(window)
    window.show()
    keeper = entry.install_file_open(app, [gguf])
    try:
        qtbot.waitUntil(lambda: window.opened == [[gguf]], timeout=2000)
        QApplication.sendEvent(app, QFileOpenEvent(str(safetensors)))
        QApplication.sendEvent(app, QFileOpenEvent(str(gguf.with_suffix(".txt"))))
        assert window.opened == [[gguf], [safetensors]]
    finally:
        app.removeEventFilter(keeper)


@pytest.mark.gui
def test_a_hidden_window_gets_nothing(qtbot, models: tuple[Path, Path]) -> None:
    window = FakeMainWindow()
    qtbot.addWidget(window)
    assert not any(w.isVisible() and hasattr(w, "open_paths") for w in QApplication.topLevelWidgets())
    assert entry.deliver([models[0]]) is False
    assert window.opened == []
