"""The model picker: Hub search, downloaded models, the offline catalog and local files, with a facts card.

Every look-up (search, details, cache scan, catalog load, reading a local header) runs on the runner's
threads; the HubClient is created lazily on a worker thread too (it reads the token store).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.widgets.background import BackgroundRunner, LazyClient, describe_error, network_pool
from app.widgets.model_choice import ChoiceKind, ModelChoice
from app.widgets.model_tabs import CacheTab, CatalogTab, HubTab, LocalTab
from engine.formats.summary import summarize
from engine.hub import CachedModel, Catalog, CatalogEntry, HubClient, ModelSummary, SearchQuery

_SEARCH, _DETAILS, _CACHE, _CATALOG, _LOCAL = "hub.search", "hub.details", "cache.scan", "catalog", "local"


class ModelPicker(QWidget):
    """Pick a model from four sources and see its facts.

    Signals:
        model_selected(object): a ModelChoice, once its facts are known.
        busy_changed(bool): look-ups running or not (for a spinner or status text).

    Args:
        client: a HubClient (or an object with the same search/details/cached_models/catalog members);
            None creates ``client_factory()`` on first use, on a worker thread.
        runner: where look-ups run (default: a runner on the network pool).
        local_tab: replace the local-files tab (tests inject one with fake file dialogs).
    """

    model_selected = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None, *, client: Any | None = None,
                 client_factory: Callable[[], Any] = HubClient, runner: BackgroundRunner | None = None,
                 local_tab: LocalTab | None = None) -> None:
        super().__init__(parent)
        self._client = LazyClient((lambda: client) if client is not None else client_factory)
        self._runner = runner if runner is not None else BackgroundRunner(self, pool=network_pool())
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._runner.busy_changed.connect(self.busy_changed)
        self._choice: ModelChoice | None = None
        self._catalog: Catalog | None = None
        self._loaded: set[str] = set()
        self.hub_tab, self.cache_tab, self.catalog_tab = HubTab(), CacheTab(), CatalogTab()
        self.local_tab = local_tab if local_tab is not None else LocalTab()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.hub_tab, "Hub se&arch")
        self.tabs.addTab(self.cache_tab, "Do&wnloaded")
        self.tabs.addTab(self.catalog_tab, "&Catalog")
        self.tabs.addTab(self.local_tab, "&Local files")
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.facts = QLabel("Pick a model to see its facts.")
        self.facts.setObjectName("modelFacts")
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByKeyboard
                                           | Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._connect_tabs()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tabs)
        scroll = QScrollArea()
        scroll.setWidget(self.facts)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumHeight(self.fontMetrics().height() * 8)
        self.facts.setMargin(6)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _connect_tabs(self) -> None:
        self.hub_tab.search_requested.connect(self._on_hub_tab_search_requested)
        self.hub_tab.summary_selected.connect(self._on_hub_tab_summary_selected)
        self.cache_tab.refresh_requested.connect(self._on_cache_tab_refresh_requested)
        self.cache_tab.cached_selected.connect(self._on_cache_tab_cached_selected)
        self.catalog_tab.entry_selected.connect(self._on_catalog_tab_entry_selected)
        self.local_tab.path_chosen.connect(self._on_local_tab_path_chosen)

    # -- public API ---------------------------------------------------------------------------------

    def choice(self) -> ModelChoice | None:
        """The model picked last (with facts), or None."""
        return self._choice

    def show_tab(self, kind: ChoiceKind) -> None:
        """Bring the tab for ``kind`` to the front (loads its list the first time)."""
        order = [ChoiceKind.HUB, ChoiceKind.CACHE, ChoiceKind.CATALOG, ChoiceKind.LOCAL]
        self.tabs.setCurrentIndex(order.index(kind))
        self._on_tabs_current_changed(self.tabs.currentIndex())

    def open_path(self, path: Path) -> None:
        """Describe a checkpoint on disk (a drop on the window or the wizard lands here)."""
        self.show_tab(ChoiceKind.LOCAL)
        self.local_tab.choose(path)

    def search(self, query: SearchQuery) -> None:
        """Run a Hub search as if typed (the CLI-like entry point for scripts and tests)."""
        self.show_tab(ChoiceKind.HUB)
        self.hub_tab.text.setText(query.text)
        self._on_hub_tab_search_requested(query)

    # -- look-ups (run on worker threads; they capture the client holder, never the widget) -------------

    @staticmethod
    def _lookup(client: LazyClient, repo_id: str, kind: ChoiceKind, cached: CachedModel | None) -> ModelChoice:
        hub = client.get()
        return ModelChoice(kind, repo_id, repo_id, details=hub.details(repo_id), catalog=hub.catalog.get(repo_id),
                           cached=cached)

    # -- slots --------------------------------------------------------------------------------------

    def _on_tabs_current_changed(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget is self.cache_tab and _CACHE not in self._loaded:
            self._loaded.add(_CACHE)
            self._on_cache_tab_refresh_requested()
        elif widget is self.catalog_tab and _CATALOG not in self._loaded:
            self._loaded.add(_CATALOG)
            client = self._client
            self._runner.submit(_CATALOG, lambda: client.get().catalog)

    def _on_hub_tab_search_requested(self, query: SearchQuery) -> None:
        client = self._client
        self._runner.submit(_SEARCH, lambda: client.get().search(query))

    def _on_hub_tab_summary_selected(self, summary: ModelSummary) -> None:
        self._show_pending(summary.repo_id)
        client, lookup = self._client, self._lookup
        self._runner.submit(_DETAILS, lambda: lookup(client, summary.repo_id, ChoiceKind.HUB, None))

    def _on_cache_tab_refresh_requested(self) -> None:
        client = self._client
        self._runner.submit(_CACHE, lambda: client.get().cached_models())

    def _on_cache_tab_cached_selected(self, model: CachedModel) -> None:
        self._show_pending(model.repo_id)
        client, lookup = self._client, self._lookup
        self._runner.submit(_DETAILS, lambda: lookup(client, model.repo_id, ChoiceKind.CACHE, model))

    def _on_catalog_tab_entry_selected(self, entry: CatalogEntry) -> None:
        self._runner.submit(_DETAILS, lambda: ModelChoice(ChoiceKind.CATALOG, entry.repo_id, entry.name,
                                                          catalog=entry))

    def _on_local_tab_path_chosen(self, path: Path) -> None:
        self._show_pending(path.name)
        self._runner.submit(_DETAILS, lambda: ModelChoice(ChoiceKind.LOCAL, str(path), path.name,
                                                          local=summarize(path)))

    def _on_runner_finished(self, key: str, result: object) -> None:
        if key == _SEARCH:
            self.hub_tab.show_page(result)  # type: ignore[arg-type]
        elif key == _CACHE:
            self.cache_tab.show_models(result)  # type: ignore[arg-type]
        elif key == _CATALOG:
            self.catalog_tab.set_catalog(result)  # type: ignore[arg-type]
        elif key == _DETAILS and isinstance(result, ModelChoice):
            self._choice = result
            self._show_facts(result)
            self.model_selected.emit(result)

    def _on_runner_failed(self, key: str, error: object) -> None:
        text = describe_error(error) if isinstance(error, BaseException) else str(error)
        if key == _SEARCH:
            self.hub_tab.show_error(text)
        elif key == _CACHE:
            self.cache_tab.status.setText(text)
        elif key in (_DETAILS, _CATALOG):
            self.facts.setText(f"<p><b>Could not read this model.</b></p><p>{escape(text)}</p>")

    # -- facts card ---------------------------------------------------------------------------------

    def _show_pending(self, name: str) -> None:
        self.facts.setText(f"<p><b>{escape(name)}</b></p><p>Looking it up...</p>")

    def _show_facts(self, choice: ModelChoice) -> None:
        rows = "".join(f"<tr><td><b>{escape(k)}</b>&nbsp;&nbsp;</td><td>{escape(v)}</td></tr>"
                       for k, v in choice.facts())
        self.facts.setText(f"<p><b>{escape(choice.title)}</b> ({escape(choice.kind.value)})</p><table>{rows}</table>")
