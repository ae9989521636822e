"""Columns of the recommendation table: one row per file type. Words always accompany the colours."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from app.widgets.recommend_rows import OptionRow
from app.widgets.svg_icons import svg_icon
from app.widgets.table_models import Column


def _mark(row: OptionRow) -> QIcon | None:
    return svg_icon("mark-recommended") if row.recommended else None


def _type_text(row: OptionRow) -> str:
    return f"{row.file_type} (recommended)" if row.recommended else row.file_type


OPTION_COLUMNS: tuple[Column[OptionRow], ...] = (
    Column("Type", _type_text, sort=lambda r: r.file_type, tooltip=OptionRow.type_tooltip, icon=_mark,
           header_tooltip="llama-quantize file type; hover a row for what it means."),
    Column("Size", OptionRow.size_text, sort=lambda r: r.option.file_bytes, align_right=True,
           header_tooltip="Size of the GGUF file."),
    Column("Verdict", lambda r: r.verdict.words, sort=lambda r: list(type(r.verdict)).index(r.verdict),
           tooltip=OptionRow.verdict_tooltip, background=lambda r: r.verdict.color, foreground=lambda r: "#000000"),
    Column("GPU layers", OptionRow.layers_text, sort=lambda r: r.option.fit.placement.n_gpu_layers,
           align_right=True,
           header_tooltip="Layers on the GPU(s), counting the output layer as llama.cpp's -ngl does."),
    Column("Context", OptionRow.context_text, sort=lambda r: r.option.fit.n_ctx, align_right=True,
           tooltip=OptionRow.verdict_tooltip, header_tooltip="The largest context up to the one asked for that fits."),
    Column("Speed", OptionRow.speed_text, sort=lambda r: r.option.tokens_per_s, align_right=True,
           tooltip=lambda r: r.option.speed.basis if r.option.speed else "Does not run on this machine.",
           header_tooltip="Estimated generation speed (memory-bandwidth roofline)."),
    Column("Quality loss", OptionRow.quality_text, sort=lambda r: r.option.quality.ppl_increase,
           header_tooltip="Perplexity increase llama.cpp measured for this type on Llama-3-8B; ~ marks estimates."),
)
