"""The icon script turns the SVG into PNGs, a Windows .ico and a macOS .icns that Qt reads back."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PySide6.QtGui import QImage, QImageReader

from tests.packaging.conftest import load_script


@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory, qapp) -> Path:
    out = tmp_path_factory.mktemp("icons")
    make_icons = load_script("make_icons.py")
    make_icons.make_icons(make_icons.SVG, out)
    return out


def _frames(path: Path) -> list[QImage]:
    reader = QImageReader(str(path))
    frames = []
    for index in range(reader.imageCount()):
        reader.jumpToImage(index)
        frames.append(reader.read())
    return frames


def test_linux_theme_sizes(icons: Path) -> None:
    module = load_script("make_icons.py")
    for size in module.LINUX_SIZES:
        image = QImage(str(icons / "hicolor" / f"{size}x{size}" / "apps" / "quantpick.png"))
        assert (image.width(), image.height()) == (size, size)
        assert image.pixelColor(0, 0).alpha() == 0  # rounded corner: transparent
        assert image.pixelColor(size // 2, size // 2).alpha() == 255
    assert (icons / "hicolor" / "scalable" / "apps" / "quantpick.svg").is_file()


def test_ico_holds_dibs_and_pngs_that_match(icons: Path) -> None:
    data = (icons / "quantpick.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind, count) == (0, 1, 7)
    frames = _frames(icons / "quantpick.ico")
    assert sorted(f.width() for f in frames) == [16, 24, 32, 48, 64, 128, 256]
    by_size = {f.width(): f for f in frames}
    png32 = QImage(str(icons / "hicolor" / "32x32" / "apps" / "quantpick.png"))
    dib32 = by_size[32].convertToFormat(png32.format())
    assert dib32 == png32  # the DIB rows are bottom-up and BGRA: a wrong order would not match


def test_icns_entries_and_lengths(icons: Path) -> None:
    data = (icons / "quantpick.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    offset, kinds = 8, []
    while offset < len(data):
        kind, length = data[offset:offset + 4], struct.unpack(">I", data[offset + 4:offset + 8])[0]
        assert data[offset + 8:offset + 16] == b"\x89PNG\r\n\x1a\n"
        kinds.append(kind)
        offset += length
    assert offset == len(data)
    assert kinds[-1] == b"ic10" and len(kinds) == 11
    assert max(f.width() for f in _frames(icons / "quantpick.icns")) == 1024
