"""Importance-matrix files, read the way llama-quantize reads them (quant-spec 4.4).

Two formats exist: llama.cpp's GGUF imatrix (``<weight>.in_sum2`` and ``<weight>.counts`` tensors plus
``imatrix.*`` metadata) and the legacy ``.dat`` stream. Both become one ``Imatrix``: per-weight float32
vectors already divided by their counts (what the kernels take) and the facts llama-quantize records
as ``quantize.imatrix.*`` metadata. Anything inconsistent is a CorruptInputError, never a crash.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
from gguf import GGUFValueType

from engine.errors import CorruptInputError, UsageError
from engine.formats.filebytes import head, mapped
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_read import GGUFFile, read_gguf
from engine.formats.gguf_write import MetaValue

MAX_TEXT_BYTES = 127  # llama-quantize copies the file name and dataset into a 128-byte buffer
_SUMS, _COUNTS = ".in_sum2", ".counts"
_REQUIRED = ("imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size")
_HINT = "Re-create the importance matrix with llama-imatrix, or download it again."


@dataclass(frozen=True, slots=True)
class Imatrix:
    """An importance matrix ready for quantization.

    Attributes:
        weights: tensor name -> read-only float32 vector of ``n_cols * n_mat`` weights, the ``qw`` that
            llama-quantize hands to the kernels (matrix ``e`` of a 3-D tensor is ``[e*n_cols:(e+1)*n_cols]``).
        file: the path exactly as the caller gave it, cut to 127 bytes (``bytes`` only if the cut split
            a UTF-8 character), as llama-quantize stores it.
        datasets: names of the calibration texts (empty for a legacy file without a trailer).
        chunk_count: how many chunks were collected (0 when the file does not say).
        chunk_size: tokens per chunk (GGUF files only).
    """

    weights: Mapping[str, np.ndarray]
    file: str | bytes
    datasets: tuple[str | bytes, ...]
    chunk_count: int
    chunk_size: int | None

    def select(self, *, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> Imatrix:
        """Keep the entries whose names contain an ``include`` text, or drop those containing an
        ``exclude`` text (llama-quantize's --include-weights / --exclude-weights; not both)."""
        include, exclude = tuple(include), tuple(exclude)
        if include and exclude:
            raise UsageError("Choose either weights to include or weights to exclude, not both.")
        if include:
            kept = {k: v for k, v in self.weights.items() if any(s in k for s in include)}
        else:
            kept = {k: v for k, v in self.weights.items() if not any(s in k for s in exclude)}
        return replace(self, weights=MappingProxyType(kept))

    def for_tensor(self, name: str, n_cols: int, n_mat: int = 1) -> np.ndarray | None:
        """The weights for tensor ``name`` with rows of ``n_cols`` (``n_mat`` experts), or None.

        None when the matrix has no entry, and for ``token_embd.weight`` of the wrong size (llama-quantize
        then quantizes without one). Any other size mismatch is an error, as it is for llama-quantize.
        """
        w = self.weights.get(name)
        if w is None or w.size == n_cols * n_mat:
            return w
        if name == "token_embd.weight":
            return None
        raise UsageError(
            f"The importance matrix has {w.size} values for {name}, but the tensor needs {n_cols * n_mat}.",
            "Use the importance matrix that was computed for this model.",
        )

    def metadata(self) -> tuple[tuple[str, MetaValue], ...]:
        """The ``quantize.imatrix.*`` entries llama-quantize appends, in its order (none if empty)."""
        if not self.weights:
            return ()
        out = [("quantize.imatrix.file", MetaValue(GGUFValueType.STRING, self.file))]
        if self.datasets:
            out.append(("quantize.imatrix.dataset", MetaValue(GGUFValueType.STRING, _cut(self.datasets[0]))))
        out.append(("quantize.imatrix.entries_count", MetaValue(GGUFValueType.UINT32, len(self.weights))))
        if self.chunk_count > 0:
            out.append(("quantize.imatrix.chunks_count", MetaValue(GGUFValueType.UINT32, self.chunk_count)))
        return tuple(out)


def read_imatrix(path: str | os.PathLike[str]) -> Imatrix:
    """Read a GGUF or legacy ``.dat`` importance matrix.

    Args:
        path: the file; its text form is recorded as ``quantize.imatrix.file``.

    Raises:
        CorruptInputError: the file is damaged, inconsistent or holds non-finite values.
        UsageError: the path does not name a readable file.
    """
    given = os.fspath(path)
    p = Path(given)
    if head(p, 4) == b"GGUF":
        weights, datasets, chunks, size = _from_gguf(read_gguf(p))
    else:
        weights, datasets, chunks = _from_legacy(p)
        size = None
    return Imatrix(
        weights=MappingProxyType(dict(sorted(weights.items()))), file=_cut(os.fsencode(given)),
        datasets=datasets, chunk_count=chunks, chunk_size=size,
    )


def _cut(text: str | bytes) -> str | bytes:
    """The first 127 bytes, as text when they are valid UTF-8 (llama-quantize copies bytes)."""
    raw = (text.encode("utf-8") if isinstance(text, str) else text)[:MAX_TEXT_BYTES]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _corrupt(path: Path, detail: str) -> CorruptInputError:
    return CorruptInputError(f"{path.name} is not a valid importance matrix: {detail}.", _HINT)


def _frozen(values: np.ndarray, path: Path, name: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise _corrupt(path, f"the weights for {name} contain NaN or infinite values")
    values.flags.writeable = False
    return values


# -- GGUF ------------------------------------------------------------------------------------------
def _from_gguf(gf: GGUFFile) -> tuple[dict[str, np.ndarray], tuple[str | bytes, ...], int, int]:
    path = gf.path
    kind = gf.get("general.type")
    if kind is not None and kind != "imatrix":
        raise _corrupt(path, f"it is a GGUF file of type {kind!r}, not an importance matrix")
    missing = [k for k in _REQUIRED if k not in gf.fields]
    if missing:
        raise _corrupt(path, f"the metadata lacks {', '.join(missing)}")
    datasets = gf.fields["imatrix.datasets"]
    if datasets.vtype != GGUFValueType.ARRAY or datasets.item_type != GGUFValueType.STRING:
        raise _corrupt(path, "imatrix.datasets is not a list of strings")
    for key in _REQUIRED[1:]:
        if gf.fields[key].vtype != GGUFValueType.UINT32:
            raise _corrupt(path, f"{key} is not a UINT32")
    if not gf.tensors:
        raise _corrupt(path, "it holds no tensors")
    pairs: dict[str, list[str | None]] = {}
    for t in gf.tensors:
        for suffix, slot in ((_SUMS, 0), (_COUNTS, 1)):
            if t.name.endswith(suffix) and len(t.name) > len(suffix):
                pairs.setdefault(t.name[: -len(suffix)], [None, None])[slot] = t.name
    weights = {name: _gguf_entry(gf, name, sums, counts) for name, (sums, counts) in pairs.items()}
    chunk_count = int(gf.get("imatrix.chunk_count"))
    return weights, tuple(datasets.value), chunk_count, int(gf.get("imatrix.chunk_size"))


def _gguf_entry(gf: GGUFFile, name: str, sums_name: str | None, counts_name: str | None) -> np.ndarray:
    if sums_name is None or counts_name is None:
        have = "counts" if sums_name is None else "sums"
        raise _corrupt(gf.path, f"{name} has {have} but no matching partner")
    sums_info, counts_info = gf.tensor(sums_name), gf.tensor(counts_name)
    if sums_info.qtype != GGMLType.F32 or counts_info.qtype != GGMLType.F32:
        raise _corrupt(gf.path, f"the tensors of {name} are not F32")
    n_cols = sums_info.shape[0]
    n_mat = sums_info.n_elements // n_cols
    if len(sums_info.shape) > 2 or counts_info.shape[0] != 1 or counts_info.n_elements != n_mat:
        shape = list(counts_info.shape)
        raise _corrupt(gf.path, f"{name} has {n_mat} matrices of sums but counts shaped {shape}")
    sums = np.asarray(gf.view(sums_name), dtype=np.float32).reshape(n_mat, n_cols)
    counts = np.asarray(gf.view(counts_name), dtype=np.float32).reshape(n_mat)
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise _corrupt(gf.path, f"the token counts of {name} are negative or not finite")
    # llama-quantize reads counts back with lround (half away from zero) and divides in binary32.
    whole = np.floor(counts.astype(np.float64) + 0.5).astype(np.float32)
    used = whole > 0
    with np.errstate(invalid="ignore", over="ignore"):  # a signalling NaN in the file; _frozen refuses it
        qw = np.where(used[:, None], sums / np.where(used, whole, np.float32(1.0))[:, None], np.float32(1.0))
    return _frozen(qw.astype(np.float32).reshape(-1), gf.path, name)


# -- legacy .dat -----------------------------------------------------------------------------------
class _Stream:
    """Little-endian reads over a buffer that fail with a CorruptInputError instead of running off."""

    __slots__ = ("buf", "pos", "path")

    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    @property
    def left(self) -> int:
        return len(self.buf) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.left:
            raise _corrupt(self.path, f"{what} needs {n} bytes at offset {self.pos}, but {self.left} remain")
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def i32(self, what: str) -> int:
        return int(struct.unpack("<i", self.take(4, what))[0])


def _from_legacy(path: Path) -> tuple[dict[str, np.ndarray], tuple[str | bytes, ...], int]:
    with mapped(path) as buf:
        s = _Stream(bytes(buf), path)
    n_entries = s.i32("the entry count") if s.left else 0
    if n_entries < 1:
        raise _corrupt(path, "it holds no entries")
    weights: dict[str, np.ndarray] = {}
    for i in range(n_entries):
        name = _legacy_name(s, i)
        if name in weights:
            raise _corrupt(path, f"the entry {name} appears twice")
        ncall = s.i32(f"the call count of {name}")
        nval = s.i32(f"the value count of {name}")
        if nval < 1:
            raise _corrupt(path, f"the entry {name} claims {nval} values")
        values = np.frombuffer(s.take(4 * nval, f"the values of {name}"), dtype="<f4").astype(np.float32)
        if ncall > 0:
            with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are refused by _frozen below
                values = values / np.float32(ncall)
        weights[name] = _frozen(values, path, name)
    if not s.left:
        return weights, (), 0
    chunks = s.i32("the chunk count")
    dataset = s.take(s.i32("the dataset name length"), "the dataset name")
    if s.left:
        raise _corrupt(path, f"{s.left} unexpected bytes follow the dataset name")
    if chunks < 0:
        raise _corrupt(path, f"the chunk count is {chunks}")
    try:
        text: str | bytes = dataset.decode("utf-8")
    except UnicodeDecodeError:
        text = dataset
    return weights, (text,), chunks


def _legacy_name(s: _Stream, index: int) -> str:
    raw = s.take(s.i32(f"the name length of entry #{index + 1}"), f"the name of entry #{index + 1}")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _corrupt(s.path, f"the name of entry #{index + 1} is not valid UTF-8") from e
    if not name or "\0" in name:
        raise _corrupt(s.path, f"the name of entry #{index + 1} is empty or contains a NUL byte")
    return name
