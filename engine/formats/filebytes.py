"""Open checkpoint files read-only, with operating-system errors turned into Quantpick errors.

Every reader goes through here, so "no such file", "is a folder" and "permission denied" read the same
everywhere, and parsing always happens over a read-only map that the parser cannot write through.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine.errors import CorruptInputError, UsageError


def file_size(path: Path) -> int:
    """Size in bytes of a regular file, or a UsageError saying why it cannot be read."""
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise UsageError(f"There is nothing at {path}.", "Check the path and try again.") from e
    except OSError as e:
        raise UsageError(f"Cannot read {path}: {e.strerror or e}.", "Check the path and its permissions.") from e
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a file.", "Pass the file itself, or the model folder.")
    return st.st_size


@contextmanager
def mapped(path: Path) -> Iterator[mmap.mmap | bytes]:
    """Yield the whole file as a read-only buffer (an mmap, or ``b""`` for an empty file)."""
    size = file_size(path)
    if size == 0:
        yield b""
        return
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise UsageError(f"Cannot open {path}: {e.strerror or e}.", "Check the file's permissions.") from e
    with fh:
        try:
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise UsageError(f"Cannot map {path} into memory: {e}.", "Check that it is a regular file.") from e
        try:
            yield buf
        finally:
            buf.close()


def head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of a file (fewer if the file is shorter)."""
    file_size(path)
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as e:
        raise UsageError(f"Cannot open {path}: {e.strerror or e}.", "Check the file's permissions.") from e


def memmap_bytes(path: Path, offset: int, nbytes: int) -> np.ndarray:
    """A zero-copy, read-only uint8 view of ``nbytes`` bytes at ``offset`` in ``path``.

    The range was validated when the header was read; if the file shrank since, say so clearly.
    """
    if nbytes == 0:
        return np.zeros(0, dtype=np.uint8)
    try:
        return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
    except (OSError, ValueError) as e:
        raise CorruptInputError(
            f"Cannot map bytes {offset}..{offset + nbytes} of {path}: {e}.",
            "The file changed or shrank after it was read; open it again.",
        ) from e
