"""What is this path? One answer per input, decided from names and a few leading bytes only.

Detection never parses more than the first 8 bytes of a file, so it is cheap and safe on anything; the
format's own reader then validates the whole header.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from engine.errors import UnsupportedInputError, UsageError
from engine.formats.filebytes import head
from engine.formats.gguf_read import GGUF_MAGIC
from engine.formats.gguf_split import split_part_paths
from engine.formats.hf_folder import find_weights
from engine.formats.pickles import looks_pickled, refuse_pickle

# Pre-GGUF llama.cpp files (.bin) start with one of these magics (u32 'ggml', 'ggmf', 'ggjt', 'ggla', LE).
_OLD_GGML_MAGICS = (b"lmgg", b"fmgg", b"tjgg", b"algg")


class InputKind(str, Enum):
    """The kinds of checkpoint Quantpick reads."""

    GGUF = "gguf"
    GGUF_SPLIT = "gguf-split"
    SAFETENSORS = "safetensors"
    SAFETENSORS_INDEX = "safetensors-index"
    HF_FOLDER = "hf-folder"


def detect(path: Path | str) -> InputKind:
    """Classify ``path``, or raise an error that says what it is and why it is not read.

    Raises:
        UsageError: nothing exists at ``path``.
        PickledCheckpointError: a pickled PyTorch checkpoint (never opened).
        UnsupportedInputError: anything else that is not a checkpoint Quantpick reads.
    """
    path = Path(path)
    if path.is_dir():
        return _detect_folder(path)
    if not path.exists():
        raise UsageError(f"There is nothing at {path}.", "Check the path and try again.")
    first = head(path, 8)
    if first.startswith(GGUF_MAGIC) or path.suffix.lower() == ".gguf":
        parts = split_part_paths(path)
        return InputKind.GGUF_SPLIT if parts is not None and len(parts) > 1 else InputKind.GGUF
    if path.name.endswith(".safetensors.index.json"):
        return InputKind.SAFETENSORS_INDEX
    if path.suffix.lower() == ".safetensors":
        return InputKind.SAFETENSORS
    if path.name == "config.json":
        return _detect_folder(path.parent)
    if looks_pickled(path.name, first):
        refuse_pickle(path)
    if first[:4] in _OLD_GGML_MAGICS:
        raise UnsupportedInputError(
            f"{path.name} is in the old GGML format that llama.cpp replaced with GGUF in 2023.",
            "Download a GGUF version of this model, or convert it with llama.cpp's convert_llama_ggml_to_gguf.py.",
        )
    raise UnsupportedInputError(f"{path.name} is not a checkpoint format Quantpick knows.")


def _detect_folder(folder: Path) -> InputKind:
    if (folder / "config.json").is_file():
        return InputKind.HF_FOLDER
    find_weights(folder)  # raises with what the folder does hold instead (pickles, GGUF files, nothing)
    raise UnsupportedInputError(
        f"{folder} has safetensors weights but no config.json, so its architecture is unknown.",
        "Download config.json from the model's page into the folder, or pass a single .safetensors file.",
    )
