"""Render resources/icons/quantpick.svg into every icon file the three platforms want.

Qt draws the SVG (QSvgRenderer onto a transparent QImage); the container formats are written here, so
building needs nothing beyond PySide6:

* Linux: ``hicolor/<n>x<n>/apps/quantpick.png`` (16 to 512) and ``hicolor/scalable/apps/quantpick.svg``;
* Windows: ``quantpick.ico``: 16 to 64 px as 32-bit DIBs (what every Windows shell reads), 128 and 256
  as PNG (what Vista and later expect for large icons);
* macOS: ``quantpick.icns``: PNG entries from 16 to 1024 px, including the @2x variants.

Usage: ``python packaging/make_icons.py [--svg PATH] [--out build/icons]``
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "quantpick.svg"
NAME = "quantpick"
LINUX_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_DIB_SIZES = (16, 24, 32, 48, 64)
ICO_PNG_SIZES = (128, 256)
# (OSType, pixel size): the PNG-based ICNS entries, @2x variants included.
ICNS_ENTRIES = (
    (b"icp4", 16), (b"ic11", 32), (b"icp5", 32), (b"ic12", 64), (b"icp6", 64), (b"ic07", 128),
    (b"ic13", 256), (b"ic08", 256), (b"ic14", 512), (b"ic09", 512), (b"ic10", 1024),
)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The SVG drawn at ``size`` x ``size`` on transparent, non-premultiplied ARGB."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def png_bytes(image: QImage) -> bytes:
    """The image encoded as PNG."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("Qt could not encode a PNG image")
    buffer.close()
    return bytes(data.data())


def dib_bytes(image: QImage) -> bytes:
    """An ICO entry as a 32-bit DIB: header, BGRA rows bottom-up, then the 1-bit transparency mask."""
    size = image.width()
    stride = size * 4
    raw = bytes(image.constBits())[: stride * size]  # ARGB32 in memory is B, G, R, A on little-endian
    rows = [raw[y * stride:(y + 1) * stride] for y in range(size)]
    mask_stride = ((size + 31) // 32) * 4
    mask_rows = []
    for row in rows:
        bits = bytearray(mask_stride)
        for x in range(size):
            if row[4 * x + 3] == 0:
                bits[x // 8] |= 0x80 >> (x % 8)
        mask_rows.append(bytes(bits))
    header = struct.pack("<IiiHHIIiiII", 40, size, 2 * size, 1, 32, 0, stride * size + mask_stride * size,
                         0, 0, 0, 0)
    return header + b"".join(reversed(rows)) + b"".join(reversed(mask_rows))


def ico_bytes(entries: list[tuple[int, bytes]]) -> bytes:
    """An ICO file from (pixel size, entry bytes) pairs, smallest first."""
    offset = 6 + 16 * len(entries)
    directory, blobs = [], []
    for size, blob in entries:
        side = 0 if size >= 256 else size  # 0 means 256 in the directory
        directory.append(struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset))
        blobs.append(blob)
        offset += len(blob)
    return struct.pack("<HHH", 0, 1, len(entries)) + b"".join(directory) + b"".join(blobs)


def icns_bytes(entries: list[tuple[bytes, bytes]]) -> bytes:
    """An ICNS file from (OSType, PNG bytes) pairs; lengths are big-endian and include the 8-byte headers."""
    body = b"".join(kind + struct.pack(">I", 8 + len(png)) + png for kind, png in entries)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def make_icons(svg: Path, out: Path) -> list[Path]:
    """Write all icon files under ``out``; return their paths."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not an SVG file Qt can draw")
    cache: dict[int, QImage] = {}

    def image(size: int) -> QImage:
        if size not in cache:
            cache[size] = render(renderer, size)
        return cache[size]

    written: list[Path] = []
    for size in LINUX_SIZES:
        path = out / "hicolor" / f"{size}x{size}" / "apps" / f"{NAME}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(image(size)))
        written.append(path)
    scalable = out / "hicolor" / "scalable" / "apps" / f"{NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable)
    ico = [(s, dib_bytes(image(s))) for s in ICO_DIB_SIZES] + [(s, png_bytes(image(s))) for s in ICO_PNG_SIZES]
    (out / f"{NAME}.ico").write_bytes(ico_bytes(ico))
    (out / f"{NAME}.icns").write_bytes(icns_bytes([(kind, png_bytes(image(s))) for kind, s in ICNS_ENTRIES]))
    (out / f"{NAME}.png").write_bytes(png_bytes(image(256)))
    return [*written, scalable, out / f"{NAME}.ico", out / f"{NAME}.icns", out / f"{NAME}.png"]


def main(argv: list[str] | None = None) -> int:
    """Command line: render the icons and list what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=SVG)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "icons")
    args = parser.parse_args(argv)
    app = QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    args.out.mkdir(parents=True, exist_ok=True)
    for path in make_icons(args.svg, args.out):
        print(path.relative_to(args.out))
    del app  # QSvgRenderer and QImage painting need the application object alive until here
    return 0


if __name__ == "__main__":
    sys.exit(main())
