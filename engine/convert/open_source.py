"""Open whatever the user pointed at as a conversion source."""

from __future__ import annotations

from pathlib import Path

from engine.convert.gguf_source import open_gguf_source
from engine.convert.source import ConversionSource
from engine.errors import UnsupportedInputError
from engine.formats.detect import InputKind, detect
from engine.formats.ggml_types import GGMLType
from engine.quant.ftypes import FileType

_CONVERTER_OUTTYPES = frozenset({GGMLType.F32, GGMLType.F16, GGMLType.BF16})


def open_source(path: Path | str, ftype: FileType) -> ConversionSource:
    """A GGUF file/split or Hugging Face folder, described as the pipeline needs it.

    For a Hugging Face folder and an F32/F16/BF16 target the source is opened with that type, so the file
    matches llama.cpp's converter; for quantized targets it is opened as llama.cpp's converter would write
    it by default (its ``auto`` type), then quantized as llama-quantize would.

    Raises:
        UnsupportedInputError, PickledCheckpointError, CorruptInputError, UnsupportedArchitectureError.
    """
    path = Path(path)
    kind = detect(path)
    if kind in (InputKind.GGUF, InputKind.GGUF_SPLIT):
        return open_gguf_source(path)
    if kind == InputKind.HF_FOLDER:
        from engine.convert.hf import open_hf_source

        outtype = ftype.base if ftype.base in _CONVERTER_OUTTYPES else None
        return open_hf_source(path, outtype=outtype)
    raise UnsupportedInputError(
        f"{path.name} is a {kind.value}, which Quantpick cannot convert directly.",
        "Convert a GGUF file or a Hugging Face model folder (config.json with safetensors weights).",
    )
