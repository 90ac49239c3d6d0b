"""The record store: MetaSchedule's JSON database, one folder per board under schedules/.

Records are keyed by the structural hash of a task's PrimFunc, so a task tuned for one network
serves every later network with the same operator shape. The files are TVM's own format
(`database_workload.json`, `database_tuning_record.json`, see record_files.py). Several
processes may share a store: readers take no lock, writers merge under one (tune_database.py).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .board import REPO_ROOT
from .record_files import (RECORD_FILE, WORKLOAD_FILE, load_failure, read_store, records_command,
                           refuse_damaged)
from .tasks import Task

__all__ = ["RECORD_FILE", "WORKLOAD_FILE", "RecordStore", "best_times", "default_root", "mean_seconds",
           "store_folder", "workload_keys", "workload_mods"]


def default_root() -> Path:
    """schedules/ of the repository, unless $NACOS_SCHEDULES names another folder."""
    return Path(os.environ.get("NACOS_SCHEDULES", REPO_ROOT / "schedules"))


def store_folder(board_name: str, root: Path | None = None) -> Path:
    """Where a board's records live: `root` (default: `default_root()`) / board name."""
    return Path(root or default_root()) / board_name


def _stamp(folder: Path) -> tuple:
    """What changes whenever a file of the store does: appended (size), rewritten (inode, time)."""
    stats = [f.stat() if f.exists() else None for f in (folder / WORKLOAD_FILE, folder / RECORD_FILE)]
    return tuple(None if s is None else (s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


class RecordStore:
    """Tuning records of one board, shared by every network tuned for it.

    `database` is TVM's JSONDatabase over this process's copy of the store's complete lines,
    decoded once (7,000 records take 40 s or more): reading needs no lock, a line another
    process is appending right now is simply not there yet, and nothing TVM commits to it
    reaches the shared files. Tuning merges into the files under the store's lock and hands
    what it merged to `absorb`, which keeps this copy current without decoding the store again.
    """

    _open: dict[Path, RecordStore] = {}

    def __init__(self, board_name: str, root: Path | None = None):
        self.path = store_folder(board_name, root)
        self.path.mkdir(parents=True, exist_ok=True)
        self.stamp = _stamp(self.path)  # before reading: a change meanwhile makes open() read again
        lines = refuse_damaged(read_store(self.path))
        self._copy = tempfile.TemporaryDirectory(prefix=f"nacos-records-{board_name}-")
        copy = Path(self._copy.name)
        (copy / WORKLOAD_FILE).write_bytes(lines.text(WORKLOAD_FILE))
        (copy / RECORD_FILE).write_bytes(lines.text(RECORD_FILE))
        from tvm.s_tir import meta_schedule as ms

        try:
            self.database = ms.database.JSONDatabase(
                path_workload=str(copy / WORKLOAD_FILE),
                path_tuning_record=str(copy / RECORD_FILE),
                allow_missing=True,
            )
        except Exception as exc:  # TVM's loader raises ValueError naming the copy's line
            raise load_failure(lines, exc) from None

    @classmethod
    def open(cls, board_name: str, root: Path | None = None) -> RecordStore:
        """This process's store for the folder, decoded once and loaded again only when another
        process changed the files (this process's own merges are absorbed, see `absorb`)."""
        path = store_folder(board_name, root).resolve()
        store = cls._open.get(path)
        if store is None or store.stamp != _stamp(path):
            store = cls._open[path] = cls(board_name, root)
        return store

    @classmethod
    def decoded(cls, board_name: str, root: Path | None = None) -> bool:
        """Whether this process holds the folder's store decoded and current (opening is cheap)."""
        path = store_folder(board_name, root).resolve()
        store = cls._open.get(path)
        return store is not None and store.stamp == _stamp(path)

    def current(self) -> bool:
        """Whether `database` holds exactly what the files hold (no other process wrote since)."""
        return self.stamp == _stamp(self.path)

    def absorb(self, merged: list[tuple[str, bytes, bytes]], mods: dict, stamp: tuple | None) -> None:
        """Decode records this process just merged into the files into `database`.

        `merged`: (workload key, workload line, record line) each; `mods`: known PrimFunc modules
        by key (others are decoded from their line); `stamp`: the files' stamp right after the
        merge if `database` was current before it, else None (then `open` reads the store again).
        """
        from tvm.s_tir import meta_schedule as ms

        workloads = {}
        for key, workload_line, record_line in merged:
            if key not in workloads:
                mod = mods.get(key)
                if mod is None:
                    mod = ms.database.Workload.from_json(json.loads(workload_line)).mod
                workloads[key] = self.database.commit_workload(mod)
            record = ms.database.TuningRecord.from_json(json.loads(record_line)[1], workloads[key])
            self.database.commit_tuning_record(record)
        if stamp is not None:
            self.stamp = stamp

    def repair_hint(self) -> str:
        return records_command(self.path, "repair")

    def records(self, task: Task, top_k: int = 1 << 20) -> list:
        """The task's valid records, fastest first."""
        if not self.database.has_workload(task.prim_func_mod):
            return []
        workload = self.database.commit_workload(task.prim_func_mod)  # returns the stored one
        return list(self.database.get_top_k(workload, top_k))

    def count(self, task: Task) -> int:
        return len(self.records(task))

    def best_seconds(self, task: Task) -> float | None:
        """Mean run time of the task's best record, or None when it was never tuned."""
        best = self.records(task, top_k=1)
        if not best or not best[0].run_secs:
            return None
        secs = [float(s) for s in best[0].run_secs]
        return sum(secs) / len(secs)

    def known(self, task: Task) -> bool:
        return self.best_seconds(task) is not None


def workload_keys(folder: Path) -> list[str]:
    """The workload keys of a store's workload file, in file order (records refer to them by index)."""
    return refuse_damaged(read_store(folder)).keys


def mean_seconds(run_secs) -> float | None:
    """A record's mean run time in s; None for a candidate that failed (MetaSchedule stores 1e10)."""
    if not run_secs:
        return None
    secs = sum(float(s) for s in run_secs) / len(run_secs)
    return None if secs >= 1e9 or secs != secs else secs


def best_times(folder: Path) -> dict[str, tuple[float, int]]:
    """workload key -> (best mean run time in s, valid record count), read straight from the files.

    Only the numbers are parsed, not the traces TVM decodes, so the whole shipped store is read
    in about a second. The keys are the structural hashes TVM writes as each workload's first field.
    """
    lines = refuse_damaged(read_store(folder))
    found: dict[str, list] = {}
    for index, run_secs in lines.records:
        secs = mean_seconds(run_secs)
        if secs is None:
            continue
        entry = found.setdefault(lines.keys[index], [secs, 0])
        entry[0] = min(entry[0], secs)
        entry[1] += 1
    return {k: (secs, count) for k, (secs, count) in found.items()}


def workload_mods(folder: Path) -> dict[str, object]:
    """workload key -> its PrimFunc module, decoded by TVM from the workload file alone."""
    from tvm.s_tir import meta_schedule as ms

    lines = refuse_damaged(read_store(folder))
    return {key: ms.database.Workload.from_json(lines.workload_entry(n)).mod for n, key in enumerate(lines.keys)}
