"""Take the README's screenshots by driving the real app: main window, recommendation, conversion, wizard.

Run it from the repository root under a real X server, or Xvfb on a machine without one::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python -m app.screenshots

``QT_QPA_PLATFORM=offscreen`` works too. Every scene is taken in the light and the dark theme and saved as
``resources/screenshots/<scene>-<theme>.png``. Hardware is a preset and models come from the offline
catalog and the golden test data, so the pictures do not depend on the machine or the network.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QThreadPool
from PySide6.QtWidgets import QApplication, QWidget

from app.bridge import install_handler, remove_handler
from app.jobs.queue import JobQueue
from app.settings import Settings
from app.theme import apply_theme
from app.widgets.hardware_panel import HardwarePanel
from app.widgets.main_window import MainWindow
from app.widgets.model_choice import ChoiceKind
from app.widgets.model_picker import ModelPicker
from app.wizard.fit_wizard import FitWizard
from app.wizard.state import Step
from engine.hardware import PRESETS
from engine.hub import HubClient
from engine.quant.ftypes import parse_file_type

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "screenshots"
GOLDEN = ROOT / "tests" / "data" / "golden"
HF_TINY = GOLDEN / "convert" / "hf-tiny-llama-spm"
PRESET = "rtx3060-12gb"
MODEL = "Qwen/Qwen3-8B"
WINDOW_SIZE = (1360, 860)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Run the event loop until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state in time")
        QApplication.processEvents()
        time.sleep(0.01)


def settle(seconds: float = 0.3) -> None:
    """Let layouts, repaints and queued signals finish."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def wait_idle() -> None:
    """Wait for every background call (hardware probe, catalog, recommendation) to return."""
    wait_until(lambda: QThreadPool.globalInstance().activeThreadCount() == 0)
    settle(0.1)


class Studio:
    """Builds windows in a scratch folder, grabs them, and cleans up after each theme."""

    def __init__(self, out: Path, theme: str, scratch: Path) -> None:
        self.out, self.theme, self.scratch = out, theme, scratch
        self.saved: list[Path] = []
        self._windows: list[MainWindow] = []

    def save(self, widget: QWidget, scene: str) -> None:
        settle()
        path = self.out / f"{scene}-{self.theme}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.saved.append(path)
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)

    def window(self) -> MainWindow:
        folder = Path(tempfile.mkdtemp(dir=self.scratch))
        settings = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
        settings.set("output_dir", folder / "models")
        client = HubClient(offline=True)
        window = MainWindow(settings=settings, queue=JobQueue(threads=1),
                            hardware=HardwarePanel(profile=PRESETS[PRESET]), picker=ModelPicker(client=client),
                            detect_hardware=False, confirm_quit=lambda _w, _n: True)
        window.resize(*WINDOW_SIZE)
        window.show()
        wait_until(window.isVisible)
        self._windows.append(window)
        return window

    def close_all(self) -> None:
        for window in self._windows:
            window.queue.cancel_all()
            wait_until(lambda w=window: not w.queue.is_busy)
            window.close()
            wait_idle()
            window.deleteLater()
        settle()
        self._windows.clear()


def pick_catalog_model(picker: ModelPicker, repo_id: str) -> None:
    picker.show_tab(ChoiceKind.CATALOG)
    table = picker.catalog_tab.table
    wait_until(lambda: table.records.rowCount() > 0)
    row = [e.repo_id for e in table.visible_records()].index(repo_id)
    table.select_row(row)
    wait_until(lambda: picker.choice() is not None)


def scene_main_window(studio: Studio) -> None:
    window = studio.window()
    pick_catalog_model(window.picker, MODEL)
    studio.save(window, "main-window")


def scene_recommendation(studio: Studio) -> None:
    window = studio.window()
    pick_catalog_model(window.picker, MODEL)
    window.tabs.setCurrentWidget(window.recommend)
    wait_until(lambda: window.recommend.result() is not None)
    studio.save(window, "recommendation")


def scene_convert(studio: Studio) -> None:
    window = studio.window()
    pickled = studio.scratch / "pytorch_model.bin"
    pickled.write_bytes(b"\x80\x02}q\x00.")
    window.open_paths([pickled, HF_TINY])
    wait_until(lambda: not window.drop_area.is_busy())
    studio.save(window, "convert-drop")


def scene_running_job(studio: Studio) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.unit.app.synthetic import write_llama_gguf  # the repo's synthetic-model helper

    window = studio.window()
    big = studio.scratch / "demo-f32.gguf"
    if not big.exists():
        write_llama_gguf(big, embd=1024, ff=4096, layers=4, vocab=8192)
    out = Path(window.settings.output_dir())
    done = window.queue.add(HF_TINY, parse_file_type("Q4_K_M"), out)
    wait_until(lambda: done.state.is_final)
    running = window.queue.add(big, parse_file_type("Q4_K_M"), out)
    window.queue.add(big, parse_file_type("Q8_0"), out)
    window.show_jobs()
    wait_until(lambda: running.fraction >= 0.35 or running.state.is_final, timeout_s=300)
    studio.save(window, "job-running")


def scene_wizard(studio: Studio) -> None:
    wizard = FitWizard(hardware=PRESETS[PRESET], client=HubClient(offline=True),
                       ask_folder=lambda: str(studio.scratch))
    wizard.show()
    wait_until(wizard.isVisible)
    studio.save(wizard, "wizard-1-hardware")
    wizard.next()
    picker = wizard.page(Step.MODEL).picker
    pick_catalog_model(picker, MODEL)
    studio.save(wizard, "wizard-2-model")
    wizard.next()
    studio.save(wizard, "wizard-3-goals")
    wizard.next()
    wait_until(lambda: wizard.state.result is not None)
    studio.save(wizard, "wizard-4-recommendation")
    wizard.next()
    studio.save(wizard, "wizard-5-action")
    wizard.next()
    studio.save(wizard, "wizard-6-done")
    wizard.close()
    wait_idle()
    wizard.deleteLater()
    settle()


SCENES: dict[str, Callable[[Studio], None]] = {
    "main-window": scene_main_window,
    "recommendation": scene_recommendation,
    "convert-drop": scene_convert,
    "job-running": scene_running_job,
    "wizard": scene_wizard,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNG files")
    parser.add_argument("--themes", nargs="+", default=["light", "dark"], choices=["light", "dark"])
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Quantpick")
    handler = install_handler()  # the log pane shows what the app logs, as in a real session
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="quantpick-shots-") as scratch:
            for theme in args.themes:
                apply_theme(app, theme)
                studio = Studio(args.out, theme, Path(scratch))
                try:
                    for name in args.scenes:
                        SCENES[name](studio)
                finally:
                    studio.close_all()
    finally:
        remove_handler(handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
