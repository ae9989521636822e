"""A real full disk: a small tmpfs, filled after planning so the disk runs out in the middle of a write.

Mounting needs root (CI runs as root); anywhere else the scenario is skipped with the reason. The
write error then comes from the kernel through Python's buffered file object, not from a mock.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from engine.convert import plan as plan_mod, run as run_mod
from engine.convert.open_source import open_source
from engine.errors import OutOfDiskError
from engine.quant.ftypes import parse_file_type
from tests.faults.scenarios import (
    FTYPES, SMALL_CHUNK, SMALL_SOURCES, Record, check_empty, check_source, digest, plan_for,
)

MOUNT_BYTES = 24 << 20  # more than any output here; the filler takes all but a random remainder
FILLER = "filler.bin"


def why_no_tmpfs() -> str | None:
    """None when a tmpfs can be mounted here, else the reason."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "mounting a tmpfs needs Linux"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CI runs as root)"
    if shutil.which("mount") is None:
        return "no mount command"
    try:
        with small_tmpfs(1 << 20):
            return None
    except OSError as e:
        return f"cannot mount a tmpfs here: {e}"


@contextmanager
def small_tmpfs(size: int) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="qp-fullfs-"))
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode:
        folder.rmdir()
        raise OSError(result.stderr.strip() or f"mount exited with {result.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False, capture_output=True)
        folder.rmdir()


def fill_leaving(folder: Path, free: int) -> None:
    """Write a filler file until only ``free`` bytes (rounded to pages) are left."""
    room = shutil.disk_usage(folder).free - free
    with open(folder / FILLER, "wb") as fh:
        while room > 0:
            chunk = min(room, 1 << 20)
            try:
                fh.write(b"\0" * chunk)
            except OSError:
                break
            room -= chunk


def full_disk(rng: random.Random, mount: Path) -> Record:
    """Plan on the empty tmpfs, fill it to leave less than the output needs, then convert."""
    src, ftype = rng.choice(SMALL_SOURCES), rng.choice(FTYPES)
    before = digest(src)
    for child in mount.iterdir():
        child.unlink()
    with mock.patch.object(run_mod, "CHUNK_INPUT_BYTES", SMALL_CHUNK), \
            mock.patch.object(plan_mod, "DISK_MARGIN", 0), open_source(src, parse_file_type(ftype)) as s:
        plan = plan_for(s, ftype, mount / "model.gguf", rng)
        free = rng.randrange(max(1, plan.total_bytes - (64 << 10)))  # tmpfs counts whole pages
        fill_leaving(mount, free)
        stopped = True
        try:
            run_mod.execute(plan, s, threads=rng.choice([1, 2]))
            stopped = False
        except OutOfDiskError:
            pass
    check_source(src, before)
    assert stopped, f"{plan.total_bytes:,} bytes fit into {free:,} free bytes?"
    check_empty(mount, allowed=(FILLER,))
    return Record("full-disk", f"{src.name} -> {ftype} in {len(plan.parts)} part(s), "
                  f"{free:,} of {plan.total_bytes:,} bytes free", stopped)
