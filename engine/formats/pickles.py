"""Recognise pickled PyTorch checkpoints so they can be refused, never loaded.

Unpickling runs whatever code the file's author put in it, so Quantpick only ever looks at a few leading
bytes to tell what a file is. Nothing here imports ``pickle``, ``torch`` or reads past the first bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from engine.errors import PickledCheckpointError

PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
_ALWAYS_PICKLE = frozenset({".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default container: a zip holding data.pkl
_PICKLE_PROTO = 0x80  # a pickle stream of protocol 2 or later starts with PROTO <n>


def looks_pickled(name: str, first_bytes: bytes) -> bool:
    """Whether a file with this name and these leading bytes is a pickled checkpoint."""
    suffix = Path(name).suffix.lower()
    if suffix not in PICKLE_SUFFIXES:
        return False
    if suffix in _ALWAYS_PICKLE or name.lower().startswith("pytorch_model"):
        return True
    if first_bytes.startswith(_ZIP_MAGIC):
        return True
    return len(first_bytes) >= 2 and first_bytes[0] == _PICKLE_PROTO and 2 <= first_bytes[1] <= 5


def pickled_files(folder: Path) -> list[Path]:
    """Files in a model folder that are pickled weights, judged by name only (nothing is opened)."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES
        and (p.suffix.lower() in _ALWAYS_PICKLE or p.name.lower().startswith("pytorch_model"))
    )


def refuse_pickle(path: Path) -> NoReturn:
    """Raise the error that explains why a pickled checkpoint is not opened and what to do instead."""
    raise PickledCheckpointError(
        f"{path.name} is a pickled PyTorch checkpoint. Quantpick never opens these: loading a pickle runs "
        "any code its author put inside, so a malicious file could take over your computer.",
        "Download the safetensors version of this model from its Hugging Face page (most models have one), "
        "or convert it to safetensors yourself in a trusted, isolated environment.",
    )
