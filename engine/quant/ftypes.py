"""The llama-quantize file types Quantpick writes, and a parser that reads their names as llama-quantize does.

A file type ("Q4_K_M") is a recipe, not a tensor type: it names a base ggml type that most weights get,
and the per-tensor rules in ``engine.quant.rules`` promote a few sensitive tensors. The number stored in
``general.file_type`` is llama.cpp's ``llama_ftype`` (quant-spec 1.7).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType

__all__ = ["FILE_TYPES", "FileType", "file_type_from_number", "parse_file_type"]

_UNQUANTIZED = frozenset({GGMLType.F32, GGMLType.F16, GGMLType.BF16})


@dataclass(frozen=True, slots=True)
class FileType:
    """One llama-quantize file type.

    Attributes:
        name: The name llama-quantize prints and accepts, e.g. ``"Q4_K_M"``.
        llama_ftype: The ``llama_ftype`` number written to ``general.file_type``.
        base: The ggml type most weights get before the per-tensor promotions.
        description: One plain sentence for a tooltip.
    """

    name: str
    llama_ftype: int
    base: GGMLType
    description: str

    @property
    def is_quantized(self) -> bool:
        """False for F32/F16/BF16, which llama-quantize applies without any mixing rules or fallbacks."""
        return self.base not in _UNQUANTIZED

    def __str__(self) -> str:
        return self.name


# In llama-quantize's own listing order (tools/quantize/quantize.cpp QUANT_OPTIONS), our types only.
FILE_TYPES: tuple[FileType, ...] = (
    FileType("Q4_0", 2, GGMLType.Q4_0,
             "Legacy 4-bit, one scale per 32 weights: small and fast, lower quality than Q4_K."),
    FileType("Q4_1", 3, GGMLType.Q4_1,
             "Legacy 4-bit with scale and offset per 32 weights: slightly larger than Q4_0."),
    FileType("Q5_0", 8, GGMLType.Q5_0,
             "Legacy 5-bit, one scale per 32 weights: better quality than Q4_0, a bit larger."),
    FileType("Q5_1", 9, GGMLType.Q5_1,
             "Legacy 5-bit with scale and offset per 32 weights."),
    FileType("Q2_K", 10, GGMLType.Q2_K,
             "About 2.6 bits per weight: smallest here, with a clear loss of quality."),
    FileType("Q3_K_S", 11, GGMLType.Q3_K,
             "3-bit K-quant, small variant: everything 3-bit, noticeable quality loss."),
    FileType("Q3_K_M", 12, GGMLType.Q3_K,
             "3-bit K-quant, medium: sensitive tensors get 4-5 bits."),
    FileType("Q3_K_L", 13, GGMLType.Q3_K,
             "3-bit K-quant, large: sensitive tensors get 5 bits."),
    FileType("IQ4_NL", 25, GGMLType.IQ4_NL,
             "4.5-bit non-linear quant in blocks of 32: Q4_0's size with better quality."),
    FileType("IQ4_XS", 30, GGMLType.IQ4_XS,
             "4.25-bit non-linear quant: about Q4_K_S quality in less space."),
    FileType("Q4_K_S", 14, GGMLType.Q4_K,
             "4-bit K-quant, small: a good size/quality trade-off."),
    FileType("Q4_K_M", 15, GGMLType.Q4_K,
             "4-bit K-quant, medium: the usual default, sensitive tensors get 6 bits."),
    FileType("Q5_K_S", 16, GGMLType.Q5_K,
             "5-bit K-quant, small: close to the original quality."),
    FileType("Q5_K_M", 17, GGMLType.Q5_K,
             "5-bit K-quant, medium: very close to the original, sensitive tensors 6-bit."),
    FileType("Q6_K", 18, GGMLType.Q6_K,
             "6.6-bit K-quant: practically indistinguishable from the original."),
    FileType("Q8_0", 7, GGMLType.Q8_0,
             "8.5-bit: near-lossless, about half the size of F16."),
    FileType("F16", 1, GGMLType.F16,
             "16-bit half precision: no quantization, large."),
    FileType("BF16", 32, GGMLType.BF16,
             "16-bit bfloat: the usual training precision, no quantization, large."),
    FileType("F32", 0, GGMLType.F32,
             "32-bit float: full precision, twice the size of F16."),
)

_BY_NAME: dict[str, FileType] = {ft.name: ft for ft in FILE_TYPES}
_BY_NUMBER: dict[int, FileType] = {ft.llama_ftype: ft for ft in FILE_TYPES}

# llama-quantize's short names for the medium K-quant mixes.
ALIASES: dict[str, str] = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}

# Names (and llama_ftype numbers) llama-quantize accepts but Quantpick does not write: they need an
# importance matrix, grid codebooks or formats we do not implement. Listed so the error can say so.
_NOT_WRITTEN: dict[str, int] = {
    "Q1_0": 40, "Q2_0": 41, "MXFP4_MOE": 38, "IQ2_XXS": 19, "IQ2_XS": 20, "IQ2_S": 28, "IQ2_M": 29,
    "IQ1_S": 24, "IQ1_M": 31, "TQ1_0": 36, "TQ2_0": 37, "Q2_K_S": 21, "IQ3_XXS": 23, "IQ3_S": 26,
    "IQ3_M": 27, "IQ3_XS": 22, "COPY": 0,
}

_INTEGER = re.compile(r"[+-]?\d+")


def _valid_names() -> list[str]:
    return [ft.name for ft in FILE_TYPES] + list(ALIASES)


def _unknown(text: str) -> UsageError:
    names = _valid_names()
    close = difflib.get_close_matches(text.upper(), names, n=3, cutoff=0.6)
    guess = f" Did you mean {' or '.join(close)}?" if close else ""
    return UsageError(
        f"{text!r} is not a file type Quantpick can write.{guess}",
        "Valid file types: " + ", ".join(names) + ".",
    )


def _not_written(name: str) -> UsageError:
    return UsageError(
        f"{name} is a llama-quantize file type that Quantpick does not write.",
        "Pick one of: " + ", ".join(ft.name for ft in FILE_TYPES) + ".",
    )


def parse_file_type(text: str | int) -> FileType:
    """Read a file-type name the way llama-quantize reads its ``type`` argument.

    Names compare case-insensitively; ``Q3_K``/``Q4_K``/``Q5_K`` mean the medium mixes; a whole number is
    taken as a ``llama_ftype`` id (``15`` is Q4_K_M). Unlike llama-quantize's ``std::stoi`` we do not
    accept trailing garbage after a number ("15x"), so a typo cannot silently pick a type.

    Raises:
        UsageError: unknown name (with a "did you mean"), or a type Quantpick does not write.
    """
    if isinstance(text, int):
        return file_type_from_number(text)
    cleaned = text.strip()
    upper = cleaned.upper()
    upper = ALIASES.get(upper, upper)
    if upper in _BY_NAME:
        return _BY_NAME[upper]
    if upper in _NOT_WRITTEN:
        raise _not_written(upper)
    if _INTEGER.fullmatch(cleaned):
        return file_type_from_number(int(cleaned))
    raise _unknown(cleaned)


def file_type_from_number(number: int) -> FileType:
    """The file type whose ``llama_ftype`` (``general.file_type``) is ``number``.

    Raises:
        UsageError: the number is not a file type Quantpick writes.
    """
    if number in _BY_NUMBER:
        return _BY_NUMBER[number]
    for name, value in _NOT_WRITTEN.items():
        if value == number:
            raise _not_written(name)
    raise UsageError(
        f"{number} is not a llama.cpp file type number.",
        "Valid numbers: " + ", ".join(f"{ft.llama_ftype} ({ft.name})" for ft in FILE_TYPES) + ".",
    )
