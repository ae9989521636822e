"""What the benchmark measures: which types, on what tensor, against which targets."""

from __future__ import annotations

import numpy as np

from engine.formats.ggml_types import GGMLType

# The types of issue 3, in the order the table lists them.
TYPES: tuple[str, ...] = (
    "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS",
)  # fmt: skip

# Lowest acceptable (our throughput / llama-quantize's) per type; types without a target are absent.
TARGET_RATIO: dict[str, float] = {
    **{t: 1.0 for t in ("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")},
    **{t: 0.5 for t in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")},
}

ROW_LENGTH = 4096  # a multiple of every block size (32 and 256), like a real 4096-wide model
TENSOR_NAME = "blk.0.ffn_up.weight"


def make_rows(mib: float, *, seed: int = 0) -> np.ndarray:
    """Standard-normal float32 rows of ROW_LENGTH values, ``mib`` MiB in all (64 MiB = 4096 x 4096)."""
    n_rows = max(1, round(mib * (1 << 20) / 4 / ROW_LENGTH))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_rows, ROW_LENGTH), dtype=np.float32)


def parse_type(name: str) -> str:
    """Canonical upper-case name of a GGML type, or ValueError for argparse to report."""
    key = name.upper()
    if key not in GGMLType.__members__:
        raise ValueError(f"unknown type {name!r}")
    return key
