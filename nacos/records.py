"""The record store: MetaSchedule's JSON database, one folder per board under a store root.

Records are keyed by the structural hash of a task's PrimFunc, so a task tuned for one network
serves every later network with the same operator shape. The files are TVM's own format
(`database_workload.json`, `database_tuning_record.json`, see record_files.py). Several
processes may share a store: readers take no lock, writers merge under one (tune_database.py).

The default store is the user's (homes.py) with the shipped records read under it: readers see
the layers' lines together (`store_folders`, record_files.read_layers) and TVM builds with a
UnionDatabase of them (the best record of any layer); writes go to the first layer only.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .homes import shipped_layers, user_schedules
from .record_files import (RECORD_FILE, WORKLOAD_FILE, load_failure, mean_seconds, read_layers, read_store,
                           records_command, refuse_damaged)
from .tasks import Task

__all__ = ["RECORD_FILE", "WORKLOAD_FILE", "RecordStore", "best_times", "default_root", "mean_seconds",
           "store_folder", "store_folders", "workload_keys", "workload_mods"]

Folders = Path | Sequence[Path]  # one store folder, or layers: the writable one first


def default_root() -> Path:
    """The root written when no store is named: the user store (homes.py) or $NACOS_SCHEDULES."""
    return user_schedules()


def store_folder(board_name: str, root: Path | None = None) -> Path:
    """Where a board's records are written: `root` (default: `default_root()`) / board name."""
    return Path(root or default_root()) / board_name


def store_folders(board_name: str, root: Path | None = None) -> list[Path]:
    """The layers a board's records are read from: the written folder, then the shipped one for
    the default store (when it has that board)."""
    shipped = [layer / board_name for layer in shipped_layers(root) if (layer / board_name).is_dir()]
    return [store_folder(board_name, root)] + shipped


def layers_of(folders: Folders) -> list[Path]:
    return [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]


def _stamp(folders: Folders) -> tuple:
    """What changes whenever a file of the layers does: appended (size), rewritten (inode, time)."""
    stats = [f.stat() if f.exists() else None
             for folder in layers_of(folders) for f in (folder / WORKLOAD_FILE, folder / RECORD_FILE)]
    return tuple(None if s is None else (s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


class RecordStore:
    """Tuning records of one board, shared by every network tuned for it.

    Each layer's `database` is TVM's JSONDatabase over this process's copy of the layer's
    complete lines, decoded once (7,000 records take 40 s or more): reading needs no lock, a
    line another process is appending right now is simply not there yet, and nothing TVM
    commits to it reaches the shared files. `database` is what builds query: the first layer's,
    or a UnionDatabase over all. Tuning merges into the first layer's files under its lock and
    hands what it merged to `absorb`, which keeps the copy current without decoding it again.
    """

    _open: dict[tuple[Path, ...], RecordStore] = {}

    def __init__(self, board_name: str, root: Path | None = None):
        self.folders = store_folders(board_name, root)
        self.path = self.folders[0]  # the layer written to
        self.path.mkdir(parents=True, exist_ok=True)
        self.stamp = _stamp(self.folders)  # before reading: a change meanwhile makes open() read again
        self._copy = tempfile.TemporaryDirectory(prefix=f"nacos-records-{board_name}-")
        self.layers = [self._decode(folder, Path(self._copy.name) / str(n), best_only=n > 0)
                       for n, folder in enumerate(self.folders)]
        if len(self.layers) == 1:
            self.database = self.layers[0]
        else:
            from tvm.s_tir import meta_schedule as ms

            self.database = ms.database.UnionDatabase(*self.layers)

    @staticmethod
    def _decode(folder: Path, copy: Path, best_only: bool):
        """A JSONDatabase over a copy of the folder's complete lines; with `best_only` (a read-only
        lower layer) only each workload's fastest record, the one a build uses: TVM then decodes
        the shipped store in seconds instead of 40 s or more (a tune's warm start reads the lines)."""
        from tvm.s_tir import meta_schedule as ms

        lines = refuse_damaged(read_store(folder))
        kept = sorted(fastest_lines(lines.records).values()) if best_only else None
        records = lines.text(RECORD_FILE) if kept is None else b"".join(lines.record_lines[n] + b"\n" for n in kept)
        copy.mkdir(parents=True)
        (copy / WORKLOAD_FILE).write_bytes(lines.text(WORKLOAD_FILE))
        (copy / RECORD_FILE).write_bytes(records)
        try:
            return ms.database.JSONDatabase(path_workload=str(copy / WORKLOAD_FILE),
                                            path_tuning_record=str(copy / RECORD_FILE), allow_missing=True)
        except Exception as exc:  # TVM's loader raises ValueError naming the copy's line
            raise load_failure(lines, exc, kept) from None

    @classmethod
    def open(cls, board_name: str, root: Path | None = None) -> RecordStore:
        """This process's store for the folders, decoded once and loaded again only when another
        process changed the files (this process's own merges are absorbed, see `absorb`)."""
        key = tuple(f.resolve() for f in store_folders(board_name, root))
        store = cls._open.get(key)
        if store is None or store.stamp != _stamp(key):
            store = cls._open[key] = cls(board_name, root)
        return store

    @classmethod
    def decoded(cls, board_name: str, root: Path | None = None) -> bool:
        """Whether this process holds the folders' store decoded and current (opening is cheap)."""
        key = tuple(f.resolve() for f in store_folders(board_name, root))
        store = cls._open.get(key)
        return store is not None and store.stamp == _stamp(key)

    def current(self) -> bool:
        """Whether the layers' databases hold exactly what the files hold (no other process wrote since)."""
        return self.stamp == _stamp(self.folders)

    def files_stamp(self) -> tuple:
        return _stamp(self.folders)

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
                workloads[key] = self.layers[0].commit_workload(mod)
            record = ms.database.TuningRecord.from_json(json.loads(record_line)[1], workloads[key])
            self.layers[0].commit_tuning_record(record)
        if stamp is not None:
            self.stamp = stamp

    def repair_hint(self) -> str:
        return records_command(self.path, "repair")

    def records(self, task: Task, top_k: int = 1 << 20) -> list:
        """The task's valid records of every layer, fastest first."""
        found = []
        for layer in self.layers:
            if layer.has_workload(task.prim_func_mod):
                workload = layer.commit_workload(task.prim_func_mod)  # returns the stored one
                found.extend(layer.get_top_k(workload, top_k))
        found.sort(key=lambda record: mean_seconds(record.run_secs) or float("inf"))
        return found[:top_k]

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


def workload_keys(folders: Folders) -> list[str]:
    """The workload keys of a store's workload lines, in order (records refer to them by index)."""
    return read_layers(layers_of(folders)).keys


def fastest_lines(records) -> dict[int, int]:
    """workload number -> the record line of its fastest valid record (records: StoreLines.records)."""
    fastest: dict[int, tuple[float, int]] = {}
    for n, (workload, run_secs) in enumerate(records):
        secs = mean_seconds(run_secs)
        if secs is not None and (workload not in fastest or secs < fastest[workload][0]):
            fastest[workload] = (secs, n)
    return {workload: n for workload, (_, n) in fastest.items()}


def best_times(folders: Folders) -> dict[str, tuple[float, int]]:
    """workload key -> (best mean run time in s, valid record count), read straight from the files.

    Only the numbers are parsed, not the traces TVM decodes, so the whole shipped store is read
    in about a second. The keys are the structural hashes TVM writes as each workload's first field.
    """
    lines = read_layers(layers_of(folders))
    found: dict[str, list] = {}
    for index, run_secs in lines.records:
        secs = mean_seconds(run_secs)
        if secs is None:
            continue
        entry = found.setdefault(lines.keys[index], [secs, 0])
        entry[0] = min(entry[0], secs)
        entry[1] += 1
    return {k: (secs, count) for k, (secs, count) in found.items()}


def workload_mods(folders: Folders) -> dict[str, object]:
    """workload key -> its PrimFunc module, decoded by TVM from the workload lines alone."""
    from tvm.s_tir import meta_schedule as ms

    lines = read_layers(layers_of(folders))
    return {key: ms.database.Workload.from_json(lines.workload_entry(n)).mod for n, key in enumerate(lines.keys)}
