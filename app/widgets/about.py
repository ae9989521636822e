"""The About dialog: Quantpick's version and the licenses of the libraries the app ships with.

Licenses are read from each installed distribution's metadata (``License-Expression``, then a one-line
``License`` field, then the trove classifiers), so the dialog states what is really bundled; the table's
own entry is only the fallback when a bundle lost the metadata. Open it with ``show_about(parent)``.
"""

from __future__ import annotations

import html
import importlib.metadata as metadata
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QTextBrowser, QVBoxLayout, QWidget,
)

from app.widgets.svg_icons import svg_icon
from engine.version import __version__

APP_LICENSE = "MIT"
QT_NOTE = (
    "Qt and Qt for Python are used under the GNU LGPL version 3: they are separate shared libraries in "
    "the application folder, and you may replace them with your own build of the same version."
)
_MAX_LICENSE_FIELD = 80  # longer License fields hold the whole license text, not its name


@dataclass(frozen=True, slots=True)
class BundledLibrary:
    """One library the app ships with.

    Attributes:
        title: The name shown to the user.
        dists: Distribution names to look up, first installed wins.
        fallback: The license to show when no metadata can be read (from the project's own pages).
        url: The project's home page.
    """

    title: str
    dists: tuple[str, ...]
    fallback: str
    url: str


@dataclass(frozen=True, slots=True)
class LicenseRow:
    """What the dialog shows for one library: version (None when not installed) and license."""

    title: str
    version: str | None
    license: str
    url: str
    from_metadata: bool


BUNDLED: tuple[BundledLibrary, ...] = (
    BundledLibrary("Qt for Python (PySide6) and Qt", ("PySide6-Essentials", "PySide6"), "LGPL-3.0-only",
                   "https://www.qt.io/qt-for-python"),
    BundledLibrary("NumPy", ("numpy",), "BSD-3-Clause", "https://numpy.org"),
    BundledLibrary("psutil", ("psutil",), "BSD-3-Clause", "https://github.com/giampaolo/psutil"),
    BundledLibrary("nvidia-ml-py", ("nvidia-ml-py",), "BSD-3-Clause", "https://pypi.org/project/nvidia-ml-py/"),
    BundledLibrary("huggingface_hub", ("huggingface_hub",), "Apache-2.0",
                   "https://github.com/huggingface/huggingface_hub"),
    BundledLibrary("gguf", ("gguf",), "MIT", "https://github.com/ggml-org/llama.cpp/tree/master/gguf-py"),
    BundledLibrary("tokenizers", ("tokenizers",), "Apache-2.0", "https://github.com/huggingface/tokenizers"),
)

# Trove classifier tails -> SPDX identifiers, for packages that only declare a classifier.
_CLASSIFIERS = {
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
}


def license_from_metadata(meta: metadata.PackageMetadata) -> str | None:
    """The license a distribution declares, as short text; None when it declares none we can show."""
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= _MAX_LICENSE_FIELD and field.upper() != "UNKNOWN":
        return field
    tails = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    names = [_CLASSIFIERS.get(tail, tail) for tail in tails if tail != "OSI Approved"]
    return " OR ".join(names) if names else None


def license_row(library: BundledLibrary) -> LicenseRow:
    """Look the library up in the installed (or bundled) distributions."""
    for dist in library.dists:
        try:
            meta = metadata.metadata(dist)
        except metadata.PackageNotFoundError:
            continue
        declared = license_from_metadata(meta)
        return LicenseRow(library.title, meta.get("Version"), declared or library.fallback, library.url,
                          from_metadata=declared is not None)
    return LicenseRow(library.title, None, library.fallback, library.url, from_metadata=False)


def bundled_licenses() -> tuple[LicenseRow, ...]:
    """One row per library in ``BUNDLED``, in that order."""
    return tuple(license_row(library) for library in BUNDLED)


def licenses_dir() -> Path | None:
    """The bundle's folder of full license texts (packaging/licenses); None when running from source."""
    frozen = getattr(sys, "_MEIPASS", None)
    folder = Path(frozen) / "licenses" if frozen else None
    return folder if folder is not None and folder.is_dir() else None


def about_html(rows: tuple[LicenseRow, ...], *, licenses: Path | None = None) -> str:
    """The dialog's body: versions of Quantpick, Python and Qt, the library table, the LGPL note and,
    in a bundle, a link to the folder with the full license texts."""
    cells = "".join(
        f"<tr><td><a href='{html.escape(r.url)}'>{html.escape(r.title)}</a></td>"
        f"<td>{html.escape(r.version or 'not installed')}</td><td>{html.escape(r.license)}</td></tr>"
        for r in rows
    )
    return (
        f"<p>Quantpick {html.escape(__version__)} is released under the {APP_LICENSE} license.<br>"
        f"Python {html.escape(platform.python_version())}, Qt {html.escape(qVersion())}, "
        f"PySide6 {html.escape(pyside_version)}.</p>"
        "<table cellspacing='0' cellpadding='3'>"
        "<tr><th align='left'>Library</th><th align='left'>Version</th><th align='left'>License</th></tr>"
        f"{cells}</table>"
        f"<p>{html.escape(QT_NOTE)}</p>"
        + (f"<p>The full license texts are in <a href='{html.escape(QUrl.fromLocalFile(str(licenses)).toString())}'>"
           f"{html.escape(str(licenses))}</a>.</p>" if licenses is not None else "")
    )


class AboutDialog(QDialog):
    """Icon, name and version on top, the license table below, About Qt and Close buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Quantpick")
        icon = QLabel()
        icon.setPixmap(svg_icon("quantpick").pixmap(64, 64))
        title = QLabel(
            f"<h2>Quantpick {html.escape(__version__)}</h2>"
            "<p>Which model and which quantization fits your machine, and then make that GGUF file.</p>"
        )
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(title, 1)
        self.body = QTextBrowser()
        self.body.setOpenExternalLinks(True)
        self.body.setHtml(about_html(bundled_licenses(), licenses=licenses_dir()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.about_qt_button = QPushButton("About &Qt")
        buttons.addButton(self.about_qt_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.about_qt_button.clicked.connect(self._on_about_qt_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.body, 1)
        layout.addWidget(buttons)
        self.resize(560, 480)

    def _on_about_qt_clicked(self) -> None:
        QMessageBox.aboutQt(self, "About Qt")


def show_about(parent: QWidget | None = None) -> None:
    """Open the About dialog, modal to ``parent``, and return when it is closed."""
    AboutDialog(parent).exec()
