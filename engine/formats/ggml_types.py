"""The one table of ggml tensor types: block size and bytes per block.

The numbers come from the ``gguf`` package (ggml-org's own constants), so they are never typed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from engine.errors import UsageError

GGMLType = GGMLQuantizationType


@dataclass(frozen=True, slots=True)
class BlockLayout:
    """How a type packs values: ``block_size`` weights take ``type_size`` bytes."""

    block_size: int
    type_size: int


LAYOUT: dict[GGMLType, BlockLayout] = {
    GGMLType(t): BlockLayout(block_size=bs, type_size=ts) for t, (bs, ts) in GGML_QUANT_SIZES.items()
}


def layout_of(qtype: GGMLType) -> BlockLayout:
    """Return the block layout of ``qtype`` or raise a UsageError for unknown types."""
    try:
        return LAYOUT[GGMLType(qtype)]
    except (KeyError, ValueError) as e:
        raise UsageError(f"Unknown tensor type {qtype!r}.") from e


def row_bytes(qtype: GGMLType, n_per_row: int) -> int:
    """Bytes one row of ``n_per_row`` values takes in ``qtype`` (rows must hold whole blocks)."""
    lay = layout_of(qtype)
    if n_per_row % lay.block_size:
        raise UsageError(
            f"A row of {n_per_row} values cannot be stored as {GGMLType(qtype).name}, "
            f"which packs values in blocks of {lay.block_size}.",
            "Pick a type whose block size divides the row length.",
        )
    return n_per_row // lay.block_size * lay.type_size


def tensor_bytes(qtype: GGMLType, shape: tuple[int, ...]) -> int:
    """Bytes of a whole tensor; ``shape`` is in GGUF order (row length first)."""
    n_rows = 1
    for dim in shape[1:]:
        n_rows *= dim
    return row_bytes(qtype, shape[0]) * n_rows
