#!/bin/sh
# Install (or remove) Quantpick from its AppDir for one user (default) or system-wide, with the menu entry,
# icons and the .gguf / .safetensors file types. Run it from inside the unpacked Quantpick.AppDir:
#
#   ./install.sh                     # into ~/.local (no root needed)
#   sudo ./install.sh --prefix /usr/local
#   ./install.sh --uninstall [--prefix DIR]
set -eu

HERE="$(dirname "$(readlink -f "$0")")"
PREFIX="$HOME/.local"
ACTION=install
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift 2 ;;
        --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
        --uninstall) ACTION=uninstall; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

LIB="$PREFIX/lib/quantpick"
SHARE="$PREFIX/share"
ICON_SIZES="16 24 32 48 64 128 256 512"

refresh() {
    # Each cache tool is optional: desktops without them rescan on their own.
    if command -v update-mime-database >/dev/null 2>&1; then update-mime-database "$SHARE/mime" || true; fi
    if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q "$SHARE/applications" || true; fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q -t -f "$SHARE/icons/hicolor" || true; fi
}

if [ "$ACTION" = uninstall ]; then
    rm -rf "$LIB"
    rm -f "$PREFIX/bin/quantpick" "$SHARE/applications/quantpick.desktop" "$SHARE/mime/packages/quantpick.xml"
    for size in $ICON_SIZES; do rm -f "$SHARE/icons/hicolor/${size}x${size}/apps/quantpick.png"; done
    rm -f "$SHARE/icons/hicolor/scalable/apps/quantpick.svg"
    refresh
    echo "Quantpick removed from $PREFIX"
    exit 0
fi

if [ ! -x "$HERE/usr/lib/quantpick/quantpick" ]; then
    echo "install.sh: run me from inside Quantpick.AppDir (no usr/lib/quantpick/quantpick next to me)" >&2
    exit 1
fi
mkdir -p "$PREFIX/bin" "$SHARE/applications" "$SHARE/mime/packages"
rm -rf "$LIB"
mkdir -p "$(dirname "$LIB")"
cp -R "$HERE/usr/lib/quantpick" "$LIB"
ln -sf "$LIB/quantpick" "$PREFIX/bin/quantpick"
cp -R "$HERE/usr/share/icons" "$SHARE/"
cp "$HERE/usr/share/mime/packages/quantpick.xml" "$SHARE/mime/packages/quantpick.xml"
# The menu entry names the installed binary by its full path: ~/.local/bin is often not on a desktop's PATH.
sed "s|^Exec=quantpick |Exec=$PREFIX/bin/quantpick |" "$HERE/usr/share/applications/quantpick.desktop" \
    > "$SHARE/applications/quantpick.desktop"
refresh
echo "Quantpick installed in $PREFIX (command: $PREFIX/bin/quantpick)"
