"""Hugging Face Hub access for the model picker: search, details, GGUF quants, downloads, cache, catalog.

Stands alone in the engine (no formats/quant/hardware/recommend imports); everything it raises is a
QuantpickError from engine.errors.
"""

from engine.hub.arch import ArchDims
from engine.hub.cache import scan_cache
from engine.hub.catalog import Catalog, CatalogEntry, load_catalog
from engine.hub.client import HubClient
from engine.hub.models import (
    CachedModel,
    DownloadResult,
    GGUFVariant,
    ModelDetails,
    ModelSummary,
    RepoFile,
    SearchPage,
    SearchQuery,
    SortKey,
    Source,
)
from engine.hub.quants import group_gguf, quant_of

__all__ = [
    "ArchDims", "CachedModel", "Catalog", "CatalogEntry", "DownloadResult", "GGUFVariant", "HubClient",
    "ModelDetails", "ModelSummary", "RepoFile", "SearchPage", "SearchQuery", "SortKey", "Source",
    "group_gguf", "load_catalog", "quant_of", "scan_cache",
]
