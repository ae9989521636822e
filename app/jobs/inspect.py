"""What was dropped: detect and summarise a path, and decide whether it can be converted. No Qt here.

``inspect_path`` reads headers only, but on a network drive or a 100-file checkpoint that still takes
long enough to freeze a window, so the drop area runs it off the GUI thread.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from app.jobs.job import JobFailure
from app.widgets.units import fmt_bytes, fmt_params
from engine.errors import QuantpickError
from engine.formats.detect import InputKind, detect
from engine.formats.summary import CheckpointSummary, summarize
from engine.quant.ftypes import FileType

_UNQUANTIZED = frozenset({"F32", "F16", "BF16"})
_CONVERTIBLE = frozenset({InputKind.GGUF, InputKind.GGUF_SPLIT, InputKind.HF_FOLDER})


@dataclass(frozen=True, slots=True)
class DropItem:
    """One dropped path, inspected.

    Attributes:
        path: What will be converted (a safetensors file inside a model folder becomes the folder).
        summary: What it is, when it could be read.
        failure: Why it cannot be used, in the engine's words.
        convertible: True when Convert will accept it.
        note: A caution worth reading before converting (already quantized, ...), or "".
    """

    path: Path
    summary: CheckpointSummary | None = None
    failure: JobFailure | None = None
    convertible: bool = False
    note: str = ""

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)


def conversion_target(path: Path) -> Path:
    """The path to convert for what the user dropped: a model folder's config or weights mean the folder."""
    is_weights = path.suffix == ".safetensors" or path.name.endswith(".safetensors.index.json")
    if (path.name == "config.json" or is_weights) and (path.parent / "config.json").is_file():
        return path.parent
    return path


def hf_conversion_available() -> bool:
    """Whether this build converts Hugging Face folders (the converter is an optional engine part)."""
    try:
        module = importlib.import_module("engine.convert.hf")
    except ImportError:
        return False
    return hasattr(module, "open_hf_source")


def is_quantized(summary: CheckpointSummary) -> bool:
    """Most parameters are stored in a quantized type (a ready-made Q4_K_M GGUF, say)."""
    return bool(summary.types) and summary.types[0].name not in _UNQUANTIZED


def inspect_path(path: Path) -> DropItem:
    """Detect and summarise ``path``; never raises a QuantpickError (it becomes the item's failure)."""
    target = conversion_target(Path(path))
    try:
        kind = detect(target)
        summary = summarize(target)
    except QuantpickError as e:
        return DropItem(target, failure=JobFailure.from_exception(e))
    if kind not in _CONVERTIBLE:
        return DropItem(target, summary, JobFailure(
            f"{target.name} holds weights only; without the model folder's config.json Quantpick cannot tell "
            "which architecture it is.",
            "Drop the whole model folder (with config.json and the tokenizer files) instead.",
        ))
    if kind is InputKind.HF_FOLDER and not hf_conversion_available():
        return DropItem(target, summary, JobFailure(
            f"{target.name} is a Hugging Face folder, and this build of Quantpick cannot convert those yet.",
            "Convert it to GGUF with llama.cpp's convert_hf_to_gguf.py, then drop the GGUF file here.",
        ))
    note = ""
    if is_quantized(summary):
        note = (f"Already quantized ({summary.file_type or summary.types[0].name}): quantizing it again "
                "loses more quality than converting the original, so only F16, BF16 and F32 are offered.")
    return DropItem(target, summary, convertible=True, note=note)


def allowed_types(item: DropItem, types: tuple[FileType, ...]) -> tuple[FileType, ...]:
    """The file types ``item`` may be converted to: all for an original, unquantized ones for a quantized one."""
    if not item.convertible:
        return ()
    if item.summary is not None and is_quantized(item.summary):
        return tuple(ft for ft in types if not ft.is_quantized)
    return types


def summary_lines(summary: CheckpointSummary) -> list[str]:
    """The facts a person asks first, one short line each."""
    facts = [summary.description]
    if summary.architecture:
        facts.append(f"architecture {summary.architecture}")
    facts.append(f"{fmt_params(summary.parameters)} parameters in {summary.tensor_count} tensors")
    if summary.layers:
        facts.append(f"{summary.layers} layers")
    if summary.context_length:
        facts.append(f"context {summary.context_length:,}".replace(",", " "))
    stored = ", ".join(t.name for t in summary.types[:3])
    facts.append(f"stored as {summary.file_type or stored}")
    facts.append(f"{fmt_bytes(summary.size_on_disk)} on disk")
    return facts
