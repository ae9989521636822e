"""The drop area: inspection off the GUI thread, preselected types, refusals, and what Convert asks for."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QLabel

import app.widgets.drop_area as drop_module
from app.widgets.drop_area import DropArea, local_paths
from engine.quant.ftypes import parse_file_type
from tests.conftest import GOLDEN

pytestmark = pytest.mark.gui

F32 = GOLDEN / "requant" / "synth-a-f32.gguf"
Q4 = GOLDEN / "requant" / "synth-a-Q4_K_M.gguf"


def make_area(qtbot, tmp_path: Path, *types: str) -> DropArea:
    area = DropArea(default_types=tuple(parse_file_type(t) for t in types), output_dir=tmp_path)
    qtbot.addWidget(area)
    area.show()
    return area


def test_local_paths_keep_local_files_once() -> None:
    urls = [QUrl.fromLocalFile("/a/b.gguf"), QUrl("https://huggingface.co/x"), QUrl.fromLocalFile("/a/b.gguf")]
    assert local_paths(urls) == [Path("/a/b.gguf")]


def test_inspection_runs_off_the_gui_thread(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[bool] = []
    real = drop_module.inspect_path

    def recording(path: Path):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(path)

    monkeypatch.setattr(drop_module, "inspect_path", recording)
    area = make_area(qtbot, tmp_path, "Q4_K_M")
    area.add_paths([F32])
    assert area.is_busy() and not area.convert_button().isEnabled()
    qtbot.waitUntil(lambda: not area.is_busy(), timeout=10_000)
    assert threads == [False]


def test_convert_asks_for_every_source_and_type(qtbot, tmp_path: Path) -> None:
    area = make_area(qtbot, tmp_path, "Q4_K_M", "Q8_0")
    area.add_paths([F32, Q4])
    qtbot.waitUntil(lambda: not area.is_busy(), timeout=10_000)
    assert [ft.name for ft in area.selected_types()] == ["Q4_K_M", "Q8_0"]
    assert area.convert_button().isEnabled()  # the F32 source takes both; the quantized one neither
    assert area.findChild(QLabel, "dropStatus").text() == "2 conversions will be queued."
    area.set_selected_types((parse_file_type("Q4_K_M"), parse_file_type("F16")))
    with qtbot.waitSignal(area.convert_requested) as blocker:
        area.convert_button().click()
    sources, types, out_dir = blocker.args
    assert sources == [F32, Q4]
    assert [[ft.name for ft in t] for t in types] == [["Q4_K_M", "F16"], ["F16"]]
    assert out_dir == tmp_path
    assert area.items() == []  # queued: the list starts fresh
