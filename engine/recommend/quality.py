"""How much quality each file type costs, from llama.cpp's own published numbers.

llama-quantize's help text lists, per type, the perplexity increase it measured on Llama-3-8B (F16/BF16 on
Mistral-7B). IQ4_NL/IQ4_XS have no published figure there; their values are placed by bits per weight between
the neighbouring K-quants and flagged as estimates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quality:
    """Perplexity increase over the unquantized model and its grade on a plain-words scale."""

    ppl_increase: float
    grade: str
    estimated: bool = False

    @property
    def rank(self) -> float:
        """The figure used to compare types: losses below LOSSLESS_PPL are measurement noise and count as
        equal, so Q8_0 ties with F16/BF16 and wins on size and speed, as people who run models expect."""
        return 0.0 if self.ppl_increase <= LOSSLESS_PPL else self.ppl_increase


# +ppl @ Llama-3-8B from tools/quantize/quantize.cpp QUANT_OPTIONS (llama.cpp 0c1e570).
PPL_INCREASE: dict[str, tuple[float, bool]] = {
    "Q2_K": (3.5199, False), "Q3_K_S": (1.6321, False), "Q3_K_M": (0.6569, False), "Q3_K_L": (0.5562, False),
    "Q4_0": (0.4685, False), "Q4_1": (0.4511, False), "IQ4_NL": (0.30, True), "IQ4_XS": (0.28, True),
    "Q4_K_S": (0.2689, False), "Q4_K_M": (0.1754, False), "Q5_0": (0.1316, False), "Q5_1": (0.1062, False),
    "Q5_K_S": (0.1049, False), "Q5_K_M": (0.0569, False), "Q6_K": (0.0217, False), "Q8_0": (0.0026, False),
    "F16": (0.0020, False), "BF16": (0.0, False), "F32": (0.0, False),
}
LOSSLESS_PPL = 0.01
GRADES: tuple[tuple[float, str], ...] = (
    (LOSSLESS_PPL, "lossless"), (0.06, "near-lossless"), (0.2, "very good"), (0.5, "good"), (1.0, "noticeable loss"),
    (float("inf"), "heavy loss"),
)


def quality_of(file_type: str) -> Quality:
    """The quality figure of a file type name (unknown names count as unmeasured heavy loss)."""
    ppl, estimated = PPL_INCREASE.get(file_type.upper(), (5.0, True))
    grade = next(label for limit, label in GRADES if ppl <= limit)
    return Quality(ppl, grade, estimated)
