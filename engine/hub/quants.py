"""Group a repo's GGUF files into quant variants, the way people pick them.

GGUF repos name each file after its quant (``...-Q4_K_M.gguf``, ``...Q8_0.gguf``, lower case in some
official repos), sometimes put big quants in a folder named after the quant, and split files over 50 GB
into ``-00001-of-00003.gguf`` shards. Projector (``mmproj*``) and importance-matrix files sit beside the
weights but are not quants, so they are listed apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.hub.models import GGUFVariant, RepoFile

# A quant token: Q4_K_M, IQ2_XXS, Q4_0_4_4, TQ1_0, BF16, F16/FP16, F32, MXFP4(_MOE), with unsloth's
# optional UD- ("dynamic") prefix. It must stand alone between separators so "Qwen3" never matches.
_QUANT = re.compile(
    r"(?<![A-Z0-9])(?P<prefix>UD-)?(?P<quant>I?Q\d(?:_[0-9A-Z]{1,3})*|TQ\d_\d|BF16|FP?16|FP?32|MXFP4(?:_MOE)?)"
    r"(?![A-Z0-9])"
)
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_ALIASES = {"FP16": "F16", "FP32": "F32"}


@dataclass(frozen=True, slots=True)
class GGUFListing:
    """A repo's GGUF files sorted into quant variants (smallest first), projectors and imatrix files."""

    variants: tuple[GGUFVariant, ...]
    mmproj: tuple[RepoFile, ...]
    imatrix: tuple[RepoFile, ...]


def quant_of(path: str) -> tuple[str, str] | None:
    """``(label, quant)`` named by a GGUF path, looking at the file name first, then its folders.

    >>> quant_of("UD-Q4_K_XL/Qwen3-235B-A22B-UD-Q4_K_XL-00001-of-00003.gguf")
    ('UD-Q4_K_XL', 'Q4_K_XL')
    >>> quant_of("qwen2.5-7b-instruct-q4_k_m.gguf")
    ('Q4_K_M', 'Q4_K_M')
    """
    parts = path.split("/")
    name = _SHARD.sub(r"\g<stem>.gguf", parts[-1])
    for part in [name.removesuffix(".gguf").removesuffix(".GGUF"), *reversed(parts[:-1])]:
        matches = list(_QUANT.finditer(part.upper()))
        if matches:
            last = matches[-1]
            quant = _ALIASES.get(last["quant"], last["quant"])
            return f"{last['prefix'] or ''}{quant}", quant
    return None


def is_mmproj(path: str) -> bool:
    return "mmproj" in path.rsplit("/", 1)[-1].lower()


def is_imatrix(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return "imatrix" in name


def _shard_key(f: RepoFile) -> tuple[str, int, int]:
    """``(path without shard suffix, index, count)``; a plain file is shard 1 of 1."""
    m = _SHARD.match(f.name)
    if m is None:
        return f.path, 1, 1
    prefix = f"{f.folder}/" if f.folder else ""
    return f"{prefix}{m['stem']}.gguf", int(m["index"]), int(m["count"])


def _variant(stem_path: str, shards: list[tuple[int, int, RepoFile]]) -> GGUFVariant:
    shards.sort(key=lambda s: s[0])
    files = tuple(f for _, _, f in shards)
    count = shards[0][1]
    label, quant = quant_of(stem_path) or (stem_path.rsplit("/", 1)[-1].removesuffix(".gguf"),) * 2
    complete = [i for i, _, _ in shards] == list(range(1, count + 1))
    return GGUFVariant(
        name=label, quant=quant, files=files, size=sum(f.size for f in files),
        shard_count=count, complete=complete,
    )


def group_gguf(files: Iterable[RepoFile]) -> GGUFListing:
    """Sort ``files`` (any repo listing; non-GGUF files are ignored) into a GGUFListing."""
    mmproj: list[RepoFile] = []
    imatrix: list[RepoFile] = []
    groups: dict[str, list[tuple[int, int, RepoFile]]] = {}
    for f in files:
        if is_imatrix(f.path):
            imatrix.append(f)
        elif not f.path.lower().endswith(".gguf"):
            continue
        elif is_mmproj(f.path):
            mmproj.append(f)
        else:
            stem_path, index, count = _shard_key(f)
            groups.setdefault(stem_path, []).append((index, count, f))
    variants = sorted((_variant(k, v) for k, v in groups.items()), key=lambda v: (v.size, v.name))
    by_path = sorted(mmproj, key=lambda f: f.path), sorted(imatrix, key=lambda f: f.path)
    return GGUFListing(tuple(variants), tuple(by_path[0]), tuple(by_path[1]))
