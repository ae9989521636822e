"""Column definitions for the model picker's tables (search hits, downloaded models, catalog). No Qt views."""

from __future__ import annotations

from app.widgets.table_models import Column
from app.widgets.units import fmt_bytes, fmt_count, fmt_params, fmt_tokens
from engine.hub import CachedModel, CatalogEntry, ModelSummary, SortKey

SORT_LABELS: dict[SortKey, str] = {
    SortKey.DOWNLOADS: "Most downloaded",
    SortKey.TRENDING: "Trending",
    SortKey.LIKES: "Most liked",
    SortKey.RECENT: "Newest",
    SortKey.UPDATED: "Recently updated",
}


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


SUMMARY_COLUMNS: tuple[Column[ModelSummary], ...] = (
    Column("Model", lambda s: s.repo_id, sort=lambda s: s.repo_id.lower(),
           tooltip=lambda s: f"{s.repo_id} ({s.source.value})"),
    Column("Parameters", lambda s: fmt_params(s.params) if s.params else "", sort=lambda s: s.params or 0,
           align_right=True),
    Column("Downloads", lambda s: fmt_count(s.downloads), sort=lambda s: s.downloads or 0, align_right=True),
    Column("Likes", lambda s: fmt_count(s.likes), sort=lambda s: s.likes or 0, align_right=True),
    Column("GGUF", lambda s: _yes(s.has_gguf), header_tooltip="The repo has ready-made GGUF files."),
    Column("Gated", lambda s: _yes(s.gated), header_tooltip="You must accept a license on Hugging Face first."),
)

CACHED_COLUMNS: tuple[Column[CachedModel], ...] = (
    Column("Model", lambda m: m.repo_id, sort=lambda m: m.repo_id.lower(), tooltip=lambda m: str(m.snapshot)),
    Column("On disk", lambda m: fmt_bytes(m.size_on_disk), sort=lambda m: m.size_on_disk, align_right=True),
    Column("GGUF files", lambda m: ", ".join(v.name for v in m.gguf_variants)),
    Column("Convertible", lambda m: _yes(m.convertible),
           header_tooltip="Has config.json and safetensors weights, so it can be converted without a download."),
)

CATALOG_COLUMNS: tuple[Column[CatalogEntry], ...] = (
    Column("Model", lambda e: e.name, sort=lambda e: e.name.lower(), tooltip=lambda e: e.notes or e.repo_id),
    Column("Parameters", lambda e: fmt_params(e.params), sort=lambda e: e.params, align_right=True),
    Column("Context", lambda e: fmt_tokens(e.dims.n_ctx_train), sort=lambda e: e.dims.n_ctx_train,
           align_right=True),
    Column("License", lambda e: e.license),
    Column("Gated", lambda e: _yes(e.gated)),
    Column("Repo", lambda e: e.repo_id, sort=lambda e: e.repo_id.lower()),
)
