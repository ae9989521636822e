"""``quantpick inspect PATH [--json]``: what a checkpoint is, in a few lines or as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.common import add_command, human_bytes, human_count
from engine.formats.summary import CheckpointSummary, summarize

NOT_STATED = "not stated"


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "inspect",
        help="describe a GGUF file, a split GGUF, a safetensors file or a Hugging Face folder",
        description="Read a checkpoint's headers (never its pickles) and describe it: architecture, "
        "parameters, layers, context length, tensor types, size, tokenizer, chat template.",
    )
    parser.add_argument("path", type=Path, help="a .gguf file (any part of a split), a .safetensors file, "
                        "a model.safetensors.index.json, or a Hugging Face model folder")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = summarize(args.path)
    print(summary.to_json() if args.json else format_summary(summary))
    return 0


def _or_not_stated(value: int | str | None, suffix: str = "") -> str:
    if value is None:
        return NOT_STATED
    return f"{value:,}{suffix}" if isinstance(value, int) else value


def format_summary(s: CheckpointSummary) -> str:
    """The human-readable summary: one fact per line, tensor types one per line."""
    rows = [
        ("Format", s.description),
        ("Architecture", _or_not_stated(s.architecture)),
        ("Parameters", f"{human_count(s.parameters)} ({s.parameters:,}) in {s.tensor_count:,} tensors"),
        ("Layers", _or_not_stated(s.layers)),
        ("Context length", _or_not_stated(s.context_length, " tokens")),
    ]
    if s.file_type is not None:
        rows.append(("File type", s.file_type))
    width = max((len(t.name) for t in s.types), default=0)
    for i, t in enumerate(s.types):
        share = 100 * t.parameters / s.parameters if s.parameters else 0.0
        plural = "tensor" if t.tensors == 1 else "tensors"
        rows.append(("Tensor types" if i == 0 else "",
                     f"{t.name:<{width}}  {t.tensors:>4} {plural:<7}  {t.parameters:>15,} parameters ({share:.1f}%)"))
    files = f" in {s.files} files" if s.files > 1 else ""
    rows += [
        ("Size on disk", f"{human_bytes(s.size_on_disk)} ({s.size_on_disk:,} bytes){files}"),
        ("Tokenizer", s.tokenizer or "none"),
        ("Chat template", "yes" if s.chat_template else "no"),
    ]
    label_width = max(len(label) for label, _ in rows)
    return "\n".join([s.path] + [f"  {label:<{label_width}}  {value}" for label, value in rows])
