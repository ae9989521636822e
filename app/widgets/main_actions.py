"""The main window's menus, toolbar and desktop notifications, kept apart from its layout.

Every command has a menu entry with a keyboard shortcut; the common ones are also on the toolbar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon, QToolBar, QWidget

from app.widgets.settings_dialog import SettingsDialog
from app.widgets.svg_icons import svg_icon
from app.wizard.fit_wizard import FitWizard
from engine.version import __version__

if TYPE_CHECKING:
    from app.widgets.main_window import MainWindow

ABOUT = (
    "<h3>Quantpick {version}</h3>"
    "<p>Which model and which quantization fits this computer, and then make that GGUF file: "
    "byte-identical to llama.cpp's llama-quantize.</p>"
    "<p>Drop a model on the window to convert it; use the wizard to find one that fits.</p>"
)


def _action(parent: QWidget, text: str, slot: object, *, icon: str = "", shortcut: str | QKeySequence = "",
            tip: str = "") -> QAction:
    action = QAction(svg_icon(icon) if icon else QIcon(), text, parent)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setToolTip(tip)
        action.setStatusTip(tip)
    action.triggered.connect(slot)  # type: ignore[arg-type]
    return action


def open_wizard(window: MainWindow) -> FitWizard:
    """Open the hardware-fit wizard for this window's hardware; what it decides goes into the queue.

    One wizard at a time: asking again brings the open one to the front. A closed wizard is deleted.
    """
    current = window.findChild(FitWizard)
    if current is not None and current.isVisible():
        current.raise_()
        current.activateWindow()
        return current
    wizard = FitWizard(window, hardware=window.hardware.profile())
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.download_requested.connect(window.handle_download_request)
    wizard.conversion_requested.connect(window.handle_conversion_request)
    wizard.finished.connect(lambda _result: window.settings.set("wizard_done", True))
    wizard.open()
    return wizard


def open_settings(window: MainWindow) -> SettingsDialog:
    dialog = SettingsDialog(window.settings, window)
    dialog.open()
    return dialog


def show_about(window: MainWindow) -> None:
    QMessageBox.about(window, "About Quantpick", ABOUT.format(version=__version__))


def build_menus(window: MainWindow) -> dict[str, QAction]:
    """Menus and toolbar for ``window``; returns the actions by name (tests trigger them)."""
    drop = window.drop_area
    actions = {
        "open_file": _action(window, "&Open model file...", drop.open_file_dialog, icon="action-open",
                             shortcut=QKeySequence.StandardKey.Open, tip="Inspect a GGUF or safetensors file"),
        "open_folder": _action(window, "Open model &folder...", drop.open_folder_dialog, icon="folder-open",
                               shortcut="Ctrl+Shift+O", tip="Inspect a Hugging Face model folder"),
        "wizard": _action(window, "Hardware-fit &wizard...", lambda: open_wizard(window), icon="action-wizard",
                          shortcut="Ctrl+Shift+W", tip="Find a model and a file type that fit this computer"),
        "settings": _action(window, "&Settings...", lambda: open_settings(window), icon="action-settings",
                            shortcut=QKeySequence.StandardKey.Preferences,
                            tip="Output folder, default types, memory margins, colours"),
        "quit": _action(window, "&Quit", window.close, shortcut=QKeySequence.StandardKey.Quit),
        "about": _action(window, "&About Quantpick", lambda: show_about(window)),
    }
    if actions["settings"].shortcut().isEmpty():
        actions["settings"].setShortcut(QKeySequence("Ctrl+,"))
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    for name in ("open_file", "open_folder", "settings"):
        file_menu.addAction(actions[name])
    file_menu.addSeparator()
    file_menu.addAction(actions["quit"])
    view_menu = bar.addMenu("&View")
    view_menu.addAction(window.hardware_dock.toggleViewAction())
    view_menu.addAction(window.log_dock.toggleViewAction())
    hardware_menu = window.hardware.menu()
    hardware_menu.setTitle("&Hardware")
    bar.addMenu(hardware_menu)
    tools_menu = bar.addMenu("&Tools")
    tools_menu.addAction(actions["wizard"])
    bar.addMenu("&Help").addAction(actions["about"])
    toolbar = QToolBar("Main toolbar", window)
    toolbar.setObjectName("main-toolbar")
    toolbar.setIconSize(QSize(20, 20))
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for name in ("open_file", "open_folder", "wizard", "settings"):
        toolbar.addAction(actions[name])
    window.addToolBar(toolbar)
    return actions


class Notifier:
    """A desktop notification where the platform has a tray, and a taskbar alert everywhere."""

    def __init__(self, window: QWidget) -> None:
        self._window = window
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(svg_icon("quantpick"), window)
            self._tray.setToolTip("Quantpick")

    def notify(self, title: str, text: str, *, failed: bool = False) -> None:
        QApplication.alert(self._window)
        if self._tray is not None:
            self._tray.show()
            icon = QSystemTrayIcon.MessageIcon.Warning if failed else QSystemTrayIcon.MessageIcon.Information
            self._tray.showMessage(title, text, icon)
