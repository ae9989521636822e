"""The installed Qt binding keeps Python's reference counts straight.

PySide6 6.12.0 on Python < 3.12 drops a reference to None on every void call and to True on every signal
emission (PYSIDE-3474); a session then aborts with "none_dealloc" after a few thousand calls. This
guards the pin in pyproject.toml.
"""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

pytestmark = pytest.mark.gui


class _Emitter(QObject):
    fired = Signal(int)


def test_void_calls_and_emits_keep_none_and_true_alive(qtbot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    emitter = _Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(200):
        label.setText(str(i))
        emitter.fired.emit(i)
    assert sys.getrefcount(None) - none_before > -50
    assert sys.getrefcount(True) - true_before > -50
