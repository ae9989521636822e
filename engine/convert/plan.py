"""The conversion plan: every output tensor with its type and size, the metadata, and a disk check.

The plan is pure data computed before a byte is written; the GUI shows it, the recommender sizes models
with the same rules, and ``run.execute`` follows it exactly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf import GGUFValueType, naming_convention

from engine.convert.source import ConversionSource
from engine.convert.split_out import OutputPart, split_parts
from engine.errors import OutOfDiskError, UsageError
from engine.formats.ggml_types import tensor_bytes
from engine.formats.gguf_write import MetaValue
from engine.quant.ftypes import FileType, parse_file_type
from engine.quant.sizes import FileSize, TensorChoice, file_size, plan_types, quantized_metadata

QUANTIZED_BY = "Quantpick"
# Room left free on the target disk beyond the file itself, so the system does not run dry.
DISK_MARGIN = 64 << 20


@dataclass(frozen=True, slots=True)
class ConversionPlan:
    """What a conversion will write.

    Attributes:
        source_label: The input, for messages.
        output: Final path of the GGUF file.
        ftype: Target file type.
        tensors: Output tensors in file order with source/target types and exact sizes.
        metadata: Output KVs in file order.
        size: Exact byte accounting of the output file.
        free_bytes: Free space on the output's disk when planned.
        converter_layout: True when the file is laid out as llama.cpp's HF converter writes it (HF source
            to F32/F16/BF16); False for llama-quantize's layout.
        parts: The files actually written: one, or several with ``--split-max-size``.
        total_bytes: Bytes of all parts together.
    """

    source_label: str
    output: Path
    ftype: FileType
    tensors: tuple[TensorChoice, ...]
    metadata: tuple[tuple[str, MetaValue], ...]
    size: FileSize
    free_bytes: int
    converter_layout: bool
    parts: tuple[OutputPart, ...]
    total_bytes: int

    @property
    def bytes_to_process(self) -> int:
        """Output tensor bytes, the unit of progress."""
        return self.size.tensor_bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source_label,
            "output": str(self.output),
            "parts": [str(part.path) for part in self.parts],
            "file_type": self.ftype.name,
            "total_bytes": self.total_bytes,
            "bits_per_weight": round(self.size.bits_per_weight, 4),
            "free_bytes": self.free_bytes,
            "tensors": [
                {"name": t.name, "shape": list(t.shape), "source": t.source.name, "target": t.target.name,
                 "bytes": t.nbytes}
                for t in self.tensors
            ],
        }


def default_output_name(source: ConversionSource, ftype: FileType) -> str:
    """llama.cpp's naming convention: ``<Name>-<SizeLabel>-<TYPE>.gguf``."""
    stem = naming_convention(source.model_name, None, None, None, source.size_label or None, ftype.name)
    return f"{stem}.gguf"


def make_plan(
    source: ConversionSource,
    ftype: FileType | str,
    *,
    output: Path | None = None,
    out_dir: Path | None = None,
    pure: bool = False,
    has_imatrix: bool = False,
    allow_requantize: bool = False,
    extra_metadata: tuple[tuple[str, MetaValue], ...] = (),
    mark_quantized_by: bool = True,
    split_max_bytes: int | None = None,
) -> ConversionPlan:
    """Plan converting ``source`` to ``ftype``.

    Raises:
        UsageError: a quantized source without ``allow_requantize``, an output that would overwrite the
            source, or a tensor no type can hold.
        OutOfDiskError: the output's disk lacks the space.
    """
    ft = ftype if isinstance(ftype, FileType) else parse_file_type(ftype)
    if source.already_quantized and not allow_requantize and ft.is_quantized:
        raise UsageError(
            f"{source.label} is already quantized; quantizing it again loses more quality than "
            "converting from the original weights.",
            "Use the F16/BF16/F32 original if you can, or pass --allow-requantize to do it anyway.",
        )
    if output is None:
        output = (out_dir or Path.cwd()) / default_output_name(source, ft)
    converter_layout = source.kind == "hf" and not ft.is_quantized and not pure
    if converter_layout:
        choices = tuple(
            TensorChoice(t.name, t.shape, t.dtype, t.dtype, tensor_bytes(t.dtype, t.shape), True)
            for t in source.tensors
        )
        metadata = list(source.metadata)
    else:
        specs = [(t.name, t.shape, t.dtype) for t in source.tensors]
        choices = plan_types(specs, ft, facts=source.facts, pure=pure, has_imatrix=has_imatrix)
        metadata = quantized_metadata(source.metadata, ft)
    metadata += list(extra_metadata)
    if mark_quantized_by:
        metadata = [kv for kv in metadata if kv[0] != "general.quantized_by"]
        metadata.append(("general.quantized_by", MetaValue(GGUFValueType.STRING, QUANTIZED_BY)))
    size = file_size(choices, metadata)
    parts = split_parts(output, tuple(metadata), choices, split_max_bytes)
    total = sum(file_size(part.tensors, part.metadata).total for part in parts) if len(parts) > 1 else size.total
    free = _check_disk(output, total)
    return ConversionPlan(
        source.label, output, ft, choices, tuple(metadata), size, free, converter_layout, parts, total
    )


def _check_disk(output: Path, needed: int) -> int:
    folder = output.parent
    if not folder.is_dir():
        raise UsageError(f"The output folder {folder} does not exist.", "Create it or choose another folder.")
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN > free:
        raise OutOfDiskError(
            f"The output needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB is free in {folder}.",
        )
    return free
