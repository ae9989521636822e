"""What a job does, as plain data: convert a local checkpoint, download a ready-made GGUF, or both. No Qt.

The queue treats every task alike (one at a time, progress, cancel); the worker picks the engine calls
by the task's type. ``JobOutcome`` is the common shape of what a finished task leaves behind. A task's
``server_args`` are the llama-server options the recommendation chose (context, GPU layers, ...).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from engine.hub import GGUFVariant
from engine.quant.ftypes import FileType

ARROW = "\u2192"


@dataclass(frozen=True, slots=True)
class ConvertTask:
    """Convert ``source`` (GGUF, split GGUF or Hugging Face folder) to ``ftype`` in ``out_dir``."""

    source: Path
    ftype: FileType
    out_dir: Path
    server_args: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.source.name} {ARROW} {self.ftype.name}"

    @property
    def destination(self) -> str:
        return f"Output folder: {self.out_dir}"


@dataclass(frozen=True, slots=True)
class DownloadTask:
    """Download one ready-made GGUF quant (every shard) from ``repo_id`` into the Hugging Face cache."""

    repo_id: str
    variant: GGUFVariant
    server_args: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"Download {self.repo_id} {self.variant.name}"

    @property
    def destination(self) -> str:
        return "Into the Hugging Face cache on this computer"


@dataclass(frozen=True, slots=True)
class DownloadConvertTask:
    """Download ``repo_id``'s safetensors checkpoint, then convert it to ``ftype`` in ``out_dir``."""

    repo_id: str
    ftype: FileType
    out_dir: Path
    server_args: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.repo_id} {ARROW} {self.ftype.name} (download, then convert)"

    @property
    def destination(self) -> str:
        return f"Output folder: {self.out_dir}"


Task = ConvertTask | DownloadTask | DownloadConvertTask
_MODEL_FLAGS = frozenset({"-m", "--model"})


def server_args_from(command: str) -> tuple[str, ...]:
    """The options of a recommended ``llama-server -m NAME ...`` command, without the program and model.

    The recommendation knows the context, GPU layers and flags but not where the file will land; the
    finished job puts its real path back in front of these.
    """
    try:
        words = shlex.split(command)
    except ValueError:
        return ()
    if not words or not words[0].endswith("llama-server"):
        return ()
    args: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in _MODEL_FLAGS:
            skip = True
        elif not word.startswith(("-m=", "--model=")):
            args.append(word)
    return tuple(args)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a finished job left behind.

    Attributes:
        output: The file to open (the first part of a split file).
        nbytes: Bytes of the result, all parts together.
        seconds: How long the work took.
        downloaded: True when the file came from the Hub rather than from a conversion.
    """

    output: Path
    nbytes: int
    seconds: float
    downloaded: bool = False
