"""The record store: MetaSchedule's JSON database, one folder per board under schedules/.

Records are keyed by the structural hash of a task's PrimFunc, so a task tuned for one network
serves every later network with the same operator shape. The files are TVM's own format
(`database_workload.json`, `database_tuning_record.json`), appended one line per record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .board import REPO_ROOT
from .tasks import Task

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"


def default_root() -> Path:
    """schedules/ of the repository, unless $NACOS_SCHEDULES names another folder."""
    return Path(os.environ.get("NACOS_SCHEDULES", REPO_ROOT / "schedules"))


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that a killed process left half-written, so TVM can load the file."""
    if not path.exists():
        return
    data = path.read_bytes()
    if not data:
        return
    lines = data.split(b"\n")
    keep = len(data)
    tail = lines[-1] if lines[-1] else None
    if tail is not None:  # no trailing newline: the last line may be torn
        try:
            json.loads(tail)
            with path.open("ab") as f:
                f.write(b"\n")
            return
        except ValueError:
            keep = len(data) - len(tail)
    if keep != len(data):
        with path.open("r+b") as f:
            f.truncate(keep)


def store_folder(board_name: str, root: Path | None = None) -> Path:
    """Where a board's records live: `root` (default: `default_root()`) / board name."""
    return Path(root or default_root()) / board_name


def _stamp(folder: Path) -> tuple:
    return tuple((f.stat().st_size, f.stat().st_mtime_ns) if f.exists() else None
                 for f in (folder / WORKLOAD_FILE, folder / RECORD_FILE))


class RecordStore:
    """Tuning records of one board, shared by every network tuned for it."""

    _open: dict[Path, RecordStore] = {}

    def __init__(self, board_name: str, root: Path | None = None):
        self.path = store_folder(board_name, root)
        self.path.mkdir(parents=True, exist_ok=True)
        for name in (WORKLOAD_FILE, RECORD_FILE):
            _drop_torn_tail(self.path / name)
        from tvm.s_tir import meta_schedule as ms

        self.database = ms.database.JSONDatabase(
            path_workload=str(self.path / WORKLOAD_FILE),
            path_tuning_record=str(self.path / RECORD_FILE),
            allow_missing=True,
        )
        self.stamp = _stamp(self.path)

    @classmethod
    def open(cls, board_name: str, root: Path | None = None) -> RecordStore:
        """This process's store for the folder, decoded once (7,000 records take 40 s or more).

        Loaded again only when another process changed the files; whoever writes through
        `database` calls `synced()` afterwards so that its own appends do not count as such.
        """
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

    def synced(self) -> RecordStore:
        self.stamp = _stamp(self.path)
        return self

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


def _json_lines(path: Path):
    """The JSON value of each line of one of TVM's database files, up to a torn tail (if any)."""
    if not path.exists():
        return
    with path.open() as f:
        for line in f:
            try:
                yield json.loads(line)
            except ValueError:
                return  # half a line from a killed writer


def workload_keys(folder: Path) -> list[str]:
    """The workload keys of a store's workload file, in file order (records refer to them by index)."""
    return [entry[0] for entry in _json_lines(folder / WORKLOAD_FILE)]


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
    keys = workload_keys(folder)
    found: dict[str, list] = {}
    for index, (_, run_secs, *_rest) in _json_lines(folder / RECORD_FILE):
        secs = mean_seconds(run_secs)
        if secs is None or index >= len(keys):
            continue
        entry = found.setdefault(keys[index], [secs, 0])
        entry[0] = min(entry[0], secs)
        entry[1] += 1
    return {k: (secs, count) for k, (secs, count) in found.items()}


def workload_mods(folder: Path) -> dict[str, object]:
    """workload key -> its PrimFunc module, decoded by TVM from the workload file alone."""
    from tvm.s_tir import meta_schedule as ms

    return {entry[0]: ms.database.Workload.from_json(entry).mod for entry in _json_lines(folder / WORKLOAD_FILE)}
