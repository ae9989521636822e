"""The main window: for now an honest welcome that says what works today."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from engine.version import __version__

WELCOME = (
    "<h2>Quantpick</h2>"
    "<p>Which model and which quantization fits your machine, and then make that GGUF file.</p>"
    "<p>Today the window is empty: inspecting checkpoints works from the command line "
    "(<code>quantpick inspect PATH</code>). Conversion, the hardware-fit wizard and drag-and-drop "
    "arrive in the next releases.</p>"
)


class MainWindow(QMainWindow):
    """Top-level window; later issues add the hardware panel, model picker and job queue."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"Quantpick {__version__}")
        self.resize(900, 600)
        label = QLabel(WELCOME)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setTextFormat(Qt.TextFormat.RichText)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(label)
        self.setCentralWidget(central)
