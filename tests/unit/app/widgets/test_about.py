"""About dialog: version, licenses read from the installed metadata, fallbacks when metadata is missing."""

from __future__ import annotations

from email.message import Message

import pytest

from app.widgets import about
from app.widgets.about import (
    BUNDLED, AboutDialog, BundledLibrary, about_html, bundled_licenses, license_from_metadata, license_row,
)
from engine.version import __version__


def _meta(**fields: str | list[str]) -> Message:
    msg = Message()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            msg[key.replace("_", "-")] = item
    return msg


def test_expression_wins_over_license_and_classifiers() -> None:
    meta = _meta(License_Expression="BSD-3-Clause", License="BSD", Classifier=["License :: OSI Approved :: MIT License"])
    assert license_from_metadata(meta) == "BSD-3-Clause"


def test_short_license_field_is_used_but_full_texts_are_not() -> None:
    assert license_from_metadata(_meta(License="Apache-2.0")) == "Apache-2.0"
    full_text = "Copyright (c) 2024\n\nPermission is hereby granted, free of charge, ..."
    meta = _meta(License=full_text, Classifier=["License :: OSI Approved :: MIT License"])
    assert license_from_metadata(meta) == "MIT"


def test_classifiers_become_spdx_names() -> None:
    meta = _meta(Classifier=["Programming Language :: Python", "License :: OSI Approved :: Apache Software License"])
    assert license_from_metadata(meta) == "Apache-2.0"
    assert license_from_metadata(_meta(License="UNKNOWN")) is None


def test_installed_libraries_report_their_own_metadata() -> None:
    rows = {row.title: row for row in bundled_licenses()}
    assert [row for row in rows] == [lib.title for lib in BUNDLED]
    assert "BSD-3-Clause" in rows["NumPy"].license and rows["NumPy"].from_metadata
    assert rows["gguf"].license == "MIT" and rows["gguf"].from_metadata
    assert rows["tokenizers"].license == "Apache-2.0"
    assert rows["huggingface_hub"].license == "Apache-2.0"
    assert "LGPL-3.0" in rows["Qt for Python (PySide6) and Qt"].license
    assert all(row.version for row in rows.values())


def test_missing_distribution_falls_back_to_the_table() -> None:
    row = license_row(BundledLibrary("Gone", ("no-such-dist-quantpick",), "MIT", "https://example.invalid"))
    assert (row.version, row.license, row.from_metadata) == (None, "MIT", False)
    assert "not installed" in about_html((row,))


def test_html_escapes_and_names_versions() -> None:
    text = about_html(bundled_licenses())
    assert f"Quantpick {__version__}" in text and "LGPL" in text
    for library in BUNDLED:
        assert library.title in text


@pytest.mark.gui
def test_dialog_shows_version_and_every_library(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(about.QMessageBox, "aboutQt", lambda parent, title: shown.append(title))
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    body = dialog.body.toPlainText()
    assert __version__ in body
    for library in BUNDLED:
        assert library.title in body
    dialog.about_qt_button.click()
    assert shown == ["About Qt"]


def test_bundle_links_its_license_texts(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delattr(about.sys, "_MEIPASS", raising=False)
    assert about.licenses_dir() is None
    assert "license texts" not in about_html(())
    (tmp_path / "licenses").mkdir()
    monkeypatch.setattr(about.sys, "_MEIPASS", str(tmp_path), raising=False)
    folder = about.licenses_dir()
    assert folder == tmp_path / "licenses"
    text = about_html((), licenses=folder)
    assert "full license texts" in text and "file://" in text and str(folder) in text
