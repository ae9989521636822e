"""The model the user picked, wherever it came from (Hub, HF cache, catalog, a local file), and its facts.

Plain data, no Qt: the model picker emits a ``ModelChoice``, the recommendation view and the wizard read
it. ``facts`` reduces the different sources to the same short list a person checks first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from app.widgets.units import fmt_bytes, fmt_params, fmt_tokens
from engine.formats.summary import CheckpointSummary
from engine.hub import CachedModel, CatalogEntry, GGUFVariant, ModelDetails


class ChoiceKind(enum.Enum):
    """Which tab the model came from."""

    HUB = "Hugging Face Hub"
    CACHE = "downloaded"
    CATALOG = "catalog"
    LOCAL = "local file"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A picked model.

    Attributes:
        kind: where it was picked.
        ref: the repo id (HUB, CACHE, CATALOG) or the local path as text (LOCAL).
        title: the name to show.
        details: what the Hub (or the cache) knows, when it was looked up.
        catalog: the catalog entry, when the catalog knows the model (also for Hub and cache picks).
        cached: the cache entry for CACHE picks.
        local: the checkpoint summary for LOCAL picks.
    """

    kind: ChoiceKind
    ref: str
    title: str
    details: ModelDetails | None = None
    catalog: CatalogEntry | None = None
    cached: CachedModel | None = None
    local: CheckpointSummary | None = None

    @property
    def repo_id(self) -> str | None:
        return None if self.kind is ChoiceKind.LOCAL else self.ref

    @property
    def path(self) -> Path | None:
        """A file or folder on this computer holding the model, if there is one."""
        if self.kind is ChoiceKind.LOCAL:
            return Path(self.ref)
        if self.cached is not None and self.cached.convertible:
            return self.cached.snapshot
        return None

    @property
    def gguf_variants(self) -> tuple[GGUFVariant, ...]:
        """Ready-made GGUF quants in the picked repo (empty for catalog and local picks)."""
        if self.details is not None:
            return self.details.gguf_variants
        if self.cached is not None:
            return self.cached.gguf_variants
        return ()

    @property
    def params(self) -> int | None:
        if self.local is not None:
            return self.local.parameters or None
        if self.details is not None and self.details.total_params:
            return self.details.total_params
        if self.catalog is not None:
            return self.catalog.params
        return self.details.dims.estimate_params() if self.details and self.details.dims else None

    @property
    def trained_context(self) -> int | None:
        """The context the model was trained for, when known."""
        return self._layers_context()[1]

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) pairs: parameters, layers, context, license, gated, and what is ready to use."""
        layers, context = self._layers_context()
        license_, gated = self._license_gated()
        rows = [
            ("Parameters", fmt_params(self.params)),
            ("Layers", str(layers) if layers else "unknown"),
            ("Trained context", fmt_tokens(context) + " tokens" if context else "unknown"),
            ("License", license_ or "unknown"),
            ("Gated", gated),
        ]
        if self.catalog is not None and self.catalog.active_params:
            rows.insert(1, ("Active parameters", fmt_params(self.catalog.active_params)))
        if self.gguf_variants:
            rows.append(("Ready GGUF files", ", ".join(v.name for v in self.gguf_variants)))
        if self.local is not None:
            rows.append(("What it is", f"{self.local.description}, {fmt_bytes(self.local.size_on_disk)}"))
        return rows

    def _layers_context(self) -> tuple[int | None, int | None]:
        if self.local is not None:
            return self.local.layers, self.local.context_length
        dims = self.details.dims if self.details is not None and self.details.dims is not None else None
        if dims is None and self.catalog is not None:
            dims = self.catalog.dims
        return (dims.n_layer, dims.n_ctx_train) if dims is not None else (None, None)

    def _license_gated(self) -> tuple[str | None, str]:
        if self.kind is ChoiceKind.LOCAL:
            return None, "no (a file on this computer)"
        license_ = self.details.license if self.details is not None else None
        license_ = license_ or (self.catalog.license if self.catalog is not None else None)
        gated = self.details.gated if self.details is not None else bool(self.catalog and self.catalog.gated)
        return license_, ("yes: accept the license on its Hugging Face page and log in" if gated else "no")
