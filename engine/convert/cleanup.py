"""Unfinished outputs that a killed conversion left behind: marked as ours while written, removed after.

The writer streams every output into ``<final>.partial`` and renames it when complete, so a cancel or an
error leaves nothing behind. A SIGKILL, a power cut or a crash of the whole app cannot run that clean-up,
though. So while a conversion runs it keeps a small ledger next to its first output file,
``<first part>.partial.owner``: which process writes (pid, that process's start time, host), every part
it will write, and the parts it has already renamed into place (a split output is all or nothing).

``remove_stale_partials`` deletes what a ledger lists only when the ledger is ours and its process is
gone: files without a ledger (not ours), ledgers of a conversion still running in another Quantpick
process, and ledgers from another host are left alone. It runs when ``quantpick convert`` starts, and
the app calls it at startup with the output folders it knows.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from engine.errors import OutOfDiskError, UsageError
from engine.formats.gguf_write import PARTIAL_SUFFIX

log = logging.getLogger(__name__)

LEDGER_SUFFIX = PARTIAL_SUFFIX + ".owner"
TOOL = "quantpick"
# A ledger that cannot be parsed is written in one call right after it is created, so one this old
# belongs to a process that died in between; younger ones might still be being written.
UNREADABLE_GRACE_S = 60.0
_START_TOLERANCE_S = 1.0  # process start times are recorded with limited precision
_TMP_SUFFIX = ".tmp"


def partial_path(output: Path) -> Path:
    """Where the writer streams ``output`` before renaming it."""
    return output.with_name(output.name + PARTIAL_SUFFIX)


def ledger_path(first_output: Path) -> Path:
    """The ledger of a conversion whose first (or only) output file is ``first_output``."""
    return first_output.with_name(first_output.name + LEDGER_SUFFIX)


@dataclass(frozen=True, slots=True)
class Owner:
    """A process that writes outputs: its pid, its start time (guards against pid reuse), its host."""

    pid: int
    started: float
    host: str

    @classmethod
    def current(cls) -> Owner:
        return cls(os.getpid(), psutil.Process().create_time(), socket.gethostname())

    def alive(self) -> bool:
        """True unless this process is known to be gone (on another host we cannot tell: alive)."""
        if self.host != socket.gethostname():
            return True
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.started) > _START_TOLERANCE_S:
                return False  # the pid now belongs to another process
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return True  # exists but cannot be inspected: assume it is still writing


@dataclass(frozen=True, slots=True)
class Ledger:
    """What one conversion writes: file names in the ledger's folder, and the sizes of finished parts."""

    owner: Owner
    parts: tuple[str, ...]
    done: tuple[tuple[str, int], ...] = ()

    def to_bytes(self) -> bytes:
        body = {"tool": TOOL, "pid": self.owner.pid, "started": self.owner.started, "host": self.owner.host,
                "parts": list(self.parts), "done": [list(d) for d in self.done]}
        return json.dumps(body).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Ledger | None:
        """The ledger, or None when the bytes are not a ledger Quantpick wrote."""
        try:
            body: Any = json.loads(raw.decode("utf-8"))
            if not isinstance(body, dict) or body.get("tool") != TOOL:
                return None
            owner = Owner(int(body["pid"]), float(body["started"]), str(body["host"]))
            parts = tuple(str(p) for p in body["parts"])
            done = tuple((str(name), int(size)) for name, size in body["done"])
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        return cls(owner, parts, done)


class OutputClaim:
    """The ledger of a running conversion; ``completed`` records each part once it has its final name."""

    def __init__(self, outputs: Sequence[Path]) -> None:
        self.path = ledger_path(outputs[0])
        self._ledger = Ledger(Owner.current(), tuple(p.name for p in outputs))

    def completed(self, output: Path) -> None:
        done = self._ledger.done + ((output.name, output.stat().st_size),)
        self._ledger = Ledger(self._ledger.owner, self._ledger.parts, done)
        _write_atomically(self.path, self._ledger.to_bytes())


@contextmanager
def claim_outputs(outputs: Sequence[Path]) -> Iterator[OutputClaim]:
    """Hold the ledger for ``outputs`` (all in one folder) while the block writes them.

    Raises:
        UsageError: another running conversion is writing the same output.
        OutOfDiskError: not even the ledger fits on the disk.
    """
    claim = OutputClaim(outputs)
    existing = _read_ledger(claim.path)
    if existing is not None and existing.owner.alive():
        raise UsageError(
            f"Another conversion (process {existing.owner.pid}) is writing {outputs[0].name} right now.",
            "Wait for it to finish or cancel it, or choose another output name.",
        )
    if claim.path.exists():
        _clean_one(claim.path)  # a dead run's leftovers under this name go before we start
    _write_atomically(claim.path, claim._ledger.to_bytes())
    try:
        yield claim
    finally:
        claim.path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutOfDiskError(f"Cannot write to {path.parent}: {e.strerror or e}.") from e


def _read_ledger(path: Path) -> Ledger | None:
    try:
        return Ledger.from_bytes(path.read_bytes())
    except OSError:
        return None


def remove_stale_partials(folders: Iterable[Path | str]) -> tuple[Path, ...]:
    """Delete what dead conversions left in ``folders`` (not recursive); returns the files deleted.

    Never raises: a folder that is missing or unreadable, or a file that cannot be deleted, is skipped.
    """
    removed: list[Path] = []
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            names = sorted(p for p in folder.iterdir() if LEDGER_SUFFIX in p.name)
        except OSError:
            continue
        for path in names:
            if path.name.endswith(LEDGER_SUFFIX):
                removed += _clean_one(path)
            elif path.name.endswith(LEDGER_SUFFIX + _TMP_SUFFIX) and _older_than(path, UNREADABLE_GRACE_S):
                _unlink_file(path)  # a ledger update that was killed half way
    return tuple(removed)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _clean_one(path: Path) -> list[Path]:
    try:
        raw, age = path.read_bytes(), time.time() - path.stat().st_mtime
    except OSError:
        return []
    ledger = Ledger.from_bytes(raw)
    if ledger is None:
        if raw.strip() or age < UNREADABLE_GRACE_S:
            return []  # not a ledger of ours, or one still being written
        doomed: list[Path] = [partial_path(path.with_name(path.name[: -len(LEDGER_SUFFIX)]))]
    elif ledger.owner.alive():
        return []
    else:
        doomed = [partial_path(path.with_name(name)) for name in ledger.parts if _plain_name(name)]
        doomed += [path.with_name(name) for name, size in ledger.done
                   if _plain_name(name) and _our_output(path.with_name(name), size)]
    removed = [p for p in doomed if _unlink_file(p)]
    _unlink_file(path)
    for p in removed:
        log.info("removed %s, left by a conversion that did not finish", p)
    return removed


def _plain_name(name: str) -> bool:
    """A bare file name: a ledger may only name files in its own folder."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def _our_output(path: Path, size: int) -> bool:
    """A finished part of the dead conversion: still the GGUF file of the size it wrote."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size != size:
            return False
        with open(path, "rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


def _unlink_file(path: Path) -> bool:
    try:
        if path.is_symlink() or not path.is_file():
            return False
        path.unlink()
        return True
    except OSError:
        return False
