"""Stale partial outputs: ours and dead are removed; anyone else's, or a live conversion's, never."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from engine.convert.cleanup import (
    UNREADABLE_GRACE_S,
    Ledger,
    Owner,
    claim_outputs,
    ledger_path,
    partial_path,
    remove_stale_partials,
)
from engine.errors import UsageError


@pytest.fixture(scope="module")
def dead_owner() -> Owner:
    """A process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = Owner(proc.pid, psutil.Process(proc.pid).create_time(), Owner.current().host)
    proc.kill()
    proc.wait()
    return owner


@pytest.fixture
def live_owner() -> Iterator[Owner]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield Owner(proc.pid, psutil.Process(proc.pid).create_time(), Owner.current().host)
    proc.kill()
    proc.wait()


def leave(folder: Path, owner: Owner, names: list[str], done: tuple[tuple[str, int], ...] = ()) -> Path:
    """What a killed conversion leaves: a ledger and the partial of the part it was writing."""
    ledger_path(folder / names[0]).write_bytes(Ledger(owner, tuple(names), done).to_bytes())
    partial = partial_path(folder / names[len(done)])
    partial.write_bytes(b"GGUF" + bytes(100))
    return partial


def test_claim_holds_a_ledger_only_while_writing(tmp_path: Path) -> None:
    out = tmp_path / "m.gguf"
    with claim_outputs([out]) as claim:
        ledger = Ledger.from_bytes(claim.path.read_bytes())
        assert ledger is not None and ledger.owner == Owner.current() and ledger.parts == ("m.gguf",)
        assert remove_stale_partials([tmp_path]) == ()  # we are alive: nothing of ours is stale
    assert list(tmp_path.iterdir()) == []


def test_dead_owner_partial_is_removed(tmp_path: Path, dead_owner: Owner) -> None:
    partial = leave(tmp_path, dead_owner, ["m.gguf"])
    assert remove_stale_partials([tmp_path]) == (partial,)
    assert list(tmp_path.iterdir()) == []


def test_live_owner_partial_is_kept(tmp_path: Path, live_owner: Owner) -> None:
    partial = leave(tmp_path, live_owner, ["m.gguf"])
    assert remove_stale_partials([tmp_path]) == ()
    assert partial.exists() and ledger_path(tmp_path / "m.gguf").exists()


def test_claim_refuses_an_output_a_live_conversion_writes(tmp_path: Path, live_owner: Owner) -> None:
    leave(tmp_path, live_owner, ["m.gguf"])
    with pytest.raises(UsageError, match=f"process {live_owner.pid}"):
        with claim_outputs([tmp_path / "m.gguf"]):
            pass


def test_claim_over_a_dead_ledger_cleans_it_first(tmp_path: Path, dead_owner: Owner) -> None:
    partial = leave(tmp_path, dead_owner, ["m.gguf"])
    with claim_outputs([tmp_path / "m.gguf"]):
        assert not partial.exists()
    assert list(tmp_path.iterdir()) == []


def test_partials_without_a_ledger_are_not_ours(tmp_path: Path) -> None:
    (tmp_path / "other.gguf.partial").write_bytes(b"GGUF")
    (tmp_path / "m.gguf.partial.owner.unrelated").write_bytes(b"x")
    assert remove_stale_partials([tmp_path]) == ()
    assert len(list(tmp_path.iterdir())) == 2


def test_reused_pid_counts_as_dead(tmp_path: Path) -> None:
    me = Owner.current()
    partial = leave(tmp_path, Owner(me.pid, me.started - 1000, me.host), ["m.gguf"])
    assert remove_stale_partials([tmp_path]) == (partial,)


def test_other_hosts_are_left_alone(tmp_path: Path, dead_owner: Owner) -> None:
    partial = leave(tmp_path, Owner(dead_owner.pid, dead_owner.started, "another-host"), ["m.gguf"])
    assert remove_stale_partials([tmp_path]) == ()
    assert partial.exists()


def test_finished_parts_of_a_killed_split_go_too(tmp_path: Path, dead_owner: Owner) -> None:
    names = [f"m-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    for name in names[:2]:
        (tmp_path / name).write_bytes(b"GGUF" + bytes(60))
    partial = leave(tmp_path, dead_owner, names, done=((names[0], 64), (names[1], 64)))
    removed = remove_stale_partials([tmp_path])
    assert sorted(removed) == sorted([partial, tmp_path / names[0], tmp_path / names[1]])
    assert list(tmp_path.iterdir()) == []


def test_a_finished_part_that_changed_since_is_kept(tmp_path: Path, dead_owner: Owner) -> None:
    names = ["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"]
    (tmp_path / names[0]).write_bytes(b"GGUF" + bytes(99))  # not the 64 bytes the ledger recorded
    leave(tmp_path, dead_owner, names, done=((names[0], 64),))
    remove_stale_partials([tmp_path])
    assert [p.name for p in tmp_path.iterdir()] == [names[0]]


@pytest.mark.parametrize("name", ["../victim.gguf", "/tmp/victim.gguf", "sub/victim.gguf", "..", "a\\b.gguf"])
def test_a_ledger_cannot_point_outside_its_folder(tmp_path: Path, dead_owner: Owner, name: str) -> None:
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    victim = tmp_path / "victim.gguf"
    victim.write_bytes(b"GGUF" + bytes(60))
    (folder / "sub" / "victim.gguf").write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "victim.gguf.partial").write_bytes(b"x")
    ledger_path(folder / "m.gguf").write_bytes(Ledger(dead_owner, ("m.gguf", name), ((name, 64),)).to_bytes())
    remove_stale_partials([folder])
    assert victim.exists() and (tmp_path / "victim.gguf.partial").exists()
    assert (folder / "sub" / "victim.gguf").exists()


def test_unreadable_ledgers(tmp_path: Path) -> None:
    """Empty and old: a process died between creating and writing it. Anything else: not ours."""
    empty, garbage = ledger_path(tmp_path / "a.gguf"), ledger_path(tmp_path / "b.gguf")
    empty.write_bytes(b"")
    garbage.write_bytes(b"{not json")
    for name in ("a.gguf", "b.gguf"):
        partial_path(tmp_path / name).write_bytes(b"GGUF")
    assert remove_stale_partials([tmp_path]) == ()  # too young to judge
    old = time.time() - UNREADABLE_GRACE_S - 5
    for path in (empty, garbage):
        os.utime(path, (old, old))
    assert remove_stale_partials([tmp_path]) == (partial_path(tmp_path / "a.gguf"),)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.gguf.partial", "b.gguf.partial.owner"]


def test_missing_or_unreadable_folders_are_skipped(tmp_path: Path) -> None:
    assert remove_stale_partials([tmp_path / "nowhere", tmp_path / "file"]) == ()
