"""The console script: no arguments hands over to the app, with one-line errors when Qt cannot start."""

from __future__ import annotations

import sys
import types

import pytest

from app.launcher import main


def _fake_app(monkeypatch: pytest.MonkeyPatch, run: object) -> None:
    module = types.ModuleType("app.main")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.main", module)


def test_no_arguments_opens_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _fake_app(monkeypatch, lambda: calls.append("run") or 0)
    assert main([]) == 0
    assert calls == ["run"]


def test_app_exit_status_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_app(monkeypatch, lambda: 3)
    assert main([]) == 3


def test_missing_qt_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "app.main", None)  # makes the import raise ImportError
    assert main([]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "desktop app cannot start" in err


def test_qt_failing_to_start_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise RuntimeError("could not connect to display\nsecond line")
    _fake_app(monkeypatch, boom)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "could not connect to display second line" in err


def test_no_display_is_one_line_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    _fake_app(monkeypatch, lambda: calls.append("run") or 0)
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2
    assert calls == []
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no display was found" in err
