"""A tune's own MetaSchedule database in its run folder, merged into the shared record store.

MetaSchedule's JSONDatabase numbers each workload it appends from its own view of the file, so
two processes appending to one shared store put records under each other's numbers. A tune
therefore gives MetaSchedule a private JSONDatabase (RUN/tune_db/), seeded with the store's
lines of the tasks it plans so the evolutionary search warm-starts as before. After every
measured batch its new lines are merged into the shared store under the store's lock: each
workload is found by its key (structural hash, the first field of its line) or appended once,
and each record line gets that workload's number, its record bytes as TVM wrote them.

`merged.json` says how much of the private record file is in the store. The private database
survives a kill; the next run of the folder merges the rest first, skipping lines that reached
the store before the kill let `merged.json` say so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .record_files import (RECORD_FILE, WORKLOAD_FILE, complete_lines, read_layers, record_workload,
                           renumbered, workload_key)
from .record_lock import append_durably, cut_unfinished_line, replace_durably, store_lock
from .records import RecordStore

TUNE_DB = "tune_db"
MERGED_FILE = "merged.json"


class TuneDatabase:
    """The private database of the tune in `run_dir`."""

    def __init__(self, run_dir: Path):
        self.folder = Path(run_dir) / TUNE_DB

    def left_over(self) -> bool:
        """Whether a tune of this folder stopped before it merged everything and cleaned up."""
        return (self.folder / RECORD_FILE).exists()

    def start(self, store: RecordStore, keys: set[str]):
        """A fresh private JSONDatabase holding the store's workload and record lines of `keys`."""
        from tvm.s_tir import meta_schedule as ms

        lines = read_layers(store.folders)  # the shipped records under the user's seed it too
        number = {}  # store workload line -> private one
        workloads = []
        for n, key in enumerate(lines.keys):
            if key in keys and lines.first_line[key] == n:
                number[n] = len(workloads)
                workloads.append(lines.workload_lines[n] + b"\n")
        records = b"".join(renumbered(line, number[entry[0]]) + b"\n"
                           for line, entry in zip(lines.record_lines, lines.records) if entry[0] in number)
        self.remove()
        self.folder.mkdir(parents=True)
        replace_durably(self.folder / WORKLOAD_FILE, b"".join(workloads))
        replace_durably(self.folder / RECORD_FILE, records)
        self._set_merged(len(records))  # the seed is in the store already
        return ms.database.JSONDatabase(path_workload=str(self.folder / WORKLOAD_FILE),
                                        path_tuning_record=str(self.folder / RECORD_FILE), allow_missing=True)

    def merge(self, store: RecordStore, mods: dict | None = None, after_kill: bool = False) -> int:
        """Append the private records not merged yet to the shared store; returns how many.

        `after_kill`: lines already in the store (merged just before a kill) are skipped.
        """
        data = (self.folder / RECORD_FILE).read_bytes() if self.left_over() else b""
        start = self._merged()
        end = data.rfind(b"\n") + 1  # MetaSchedule may be writing the next line
        if end <= start:
            return 0
        private_lines, _ = complete_lines(self.folder / WORKLOAD_FILE)
        private_keys = [workload_key(line) for line in private_lines]
        new = [(private_keys[record_workload(line)], line) for line in data[start:end].split(b"\n")[:-1]]
        line_of = {key: private_lines[n] for n, key in enumerate(private_keys)}
        with store_lock(store.path):
            was_current = store.current()
            for name in (WORKLOAD_FILE, RECORD_FILE):
                cut_unfinished_line(store.path / name)  # a killed writer's; nobody writes under the lock
            if after_kill:
                new = _not_in_store(new, store.path)
            shared, _ = complete_lines(store.path / WORKLOAD_FILE)
            number = {}
            for n, line in enumerate(shared):
                number.setdefault(workload_key(line), n)
            appended = []
            for key in dict.fromkeys(key for key, _ in new):
                if key not in number:
                    number[key] = len(shared) + len(appended)
                    appended.append(line_of[key] + b"\n")
            lines = [renumbered(line, number[key]) for key, line in new]
            append_durably(store.path / WORKLOAD_FILE, b"".join(appended))  # before the records on them
            append_durably(store.path / RECORD_FILE, b"".join(line + b"\n" for line in lines))
            stamp = store.files_stamp() if was_current else None
        self._set_merged(end)
        store.absorb([(key, line_of[key], line) for (key, _), line in zip(new, lines)], mods or {}, stamp)
        return len(lines)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _merged(self) -> int:
        path = self.folder / MERGED_FILE
        return json.loads(path.read_text())["bytes"] if path.exists() else 0

    def _set_merged(self, size: int) -> None:
        replace_durably(self.folder / MERGED_FILE, json.dumps({"bytes": size}).encode())


def _not_in_store(new: list[tuple[str, bytes]], folder: Path) -> list[tuple[str, bytes]]:
    """The records of `new` the store does not hold yet (compared without workload numbers)."""
    held = {hash(line[line.index(b",") + 1:]) for line in complete_lines(folder / RECORD_FILE)[0] if b"," in line}
    return [(key, line) for key, line in new if hash(line[line.index(b",") + 1:]) not in held]
