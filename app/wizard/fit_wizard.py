"""The hardware-fit wizard: Hardware -> Model -> Goals -> Recommendation -> Action -> Done.

A QWizard shell over the pages; it owns the WizardState and one BackgroundRunner, and emits what the user
decided to do so the main window can queue it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from app.widgets.background import BackgroundRunner, LazyClient, network_pool
from app.widgets.requests import ConversionRequest, DownloadRequest
from app.wizard.action_pages import ActionPage, DonePage
from app.wizard.pages import GoalsPage, HardwarePage, ModelPage, RecommendationPage
from app.wizard.state import Step, WizardState
from engine.hardware import PRESETS, HardwareProfile, detect
from engine.hub import HubClient


class FitWizard(QWizard):
    """Walks a user from their hardware to a GGUF that fits it.

    Signals:
        download_requested(object): a DownloadRequest, when the user chose to download a ready file.
        conversion_requested(object): a ConversionRequest for the job queue.

    Args:
        hardware: start from this profile (e.g. the main window's), else probe this computer.
        client: a HubClient or a fake with the same members; None creates ``client_factory()`` lazily.
        detect_fn: the hardware probe (run on a worker thread).
        ask_folder: replaces the output-folder dialog (tests).
    """

    download_requested = Signal(object)
    conversion_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, hardware: HardwareProfile | None = None,
                 client: Any | None = None, client_factory: Callable[[], Any] = HubClient,
                 detect_fn: Callable[[], HardwareProfile] = detect,
                 presets: Mapping[str, HardwareProfile] = PRESETS,
                 ask_folder: Callable[[], str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hardware-fit wizard")
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.state = WizardState(hardware=hardware)
        self.runner = BackgroundRunner(self)  # probing and recommendations
        self.hub_runner = BackgroundRunner(self, pool=network_pool())  # Hub look-ups
        shared = LazyClient((lambda: client) if client is not None else client_factory)
        self.setPage(Step.HARDWARE, HardwarePage(self.state, detect_fn=detect_fn, presets=dict(presets),
                                                 runner=self.runner))
        self.setPage(Step.MODEL, ModelPage(self.state, client_factory=shared.get, runner=self.hub_runner))
        self.setPage(Step.GOALS, GoalsPage(self.state))
        self.setPage(Step.RECOMMENDATION, RecommendationPage(self.state, runner=self.runner))
        self.setPage(Step.ACTION, ActionPage(self.state, client_factory=shared.get, runner=self.hub_runner,
                                             submit=self._on_action_page_submit, ask_folder=ask_folder))
        self.setPage(Step.DONE, DonePage(self.state))
        self.setStartId(Step.HARDWARE)
        self.resize(960, 720)

    def _on_action_page_submit(self, request: DownloadRequest | ConversionRequest) -> None:
        if isinstance(request, DownloadRequest):
            self.download_requested.emit(request)
        else:
            self.conversion_requested.emit(request)
