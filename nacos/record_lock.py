"""One writer at a time per record store: an exclusive flock on the store's folder.

MetaSchedule numbers a new workload by its line in database_workload.json, so whoever appends
must read that file and append in one step that no other writer interleaves with. Writers
(merging a tune's records, repairing, rewriting run times) hold this lock for that step; readers
never take it (they trust complete lines only, see record_files.py). The lock is on the folder
itself, so there is no lock file to ship or clean up, and the kernel drops it when its process
dies: a killed tuner never leaves a store locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

_held: dict[Path, int] = {}  # folders this process holds the lock of -> nesting depth


@contextlib.contextmanager
def store_lock(folder: Path):
    """Hold the store's write lock (waiting for another writer to finish); re-entrant per process."""
    folder = Path(folder).resolve()
    if folder in _held:  # a second flock from this process would wait for itself
        _held[folder] += 1
        try:
            yield
        finally:
            _held[folder] -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[folder] = 1
        try:
            yield
        finally:
            del _held[folder]
    finally:
        os.close(fd)  # releases the lock


def holds_lock(folder: Path) -> bool:
    return Path(folder).resolve() in _held


def cut_unfinished_line(path: Path) -> int:
    """Under the lock only: drop a last line without its newline, left by a writer that was
    killed mid-append (with the lock held, nobody is writing it now). Returns bytes cut."""
    assert holds_lock(path.parent), "an unfinished line is only torn for certain under the lock"
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("r+b") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        f.seek(0)
        keep = f.read().rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def append_durably(path: Path, data: bytes) -> None:
    """Append whole lines in one write and fsync them (under the lock)."""
    if not data:
        return
    with path.open("ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def replace_durably(path: Path, data: bytes) -> None:
    """Rewrite a file through a temporary file, fsync and rename: whole or as before."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
