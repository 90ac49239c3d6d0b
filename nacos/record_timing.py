"""Re-measure the best records of a record store, quietly, and write the times back.

A record's run time is measured once, while it is tuned. On this 2-core machine a timing
taken while anything else ran (a test suite, another tuning, a training) reads up to twice the
real time, and the store keeps that figure for good: the record then ranks wrongly, and every
latency estimate built on the store's best times inherits the error. Measured on one network
(16bfde39): 11 of its 50 tasks' best times were 1.8-2.2x what the same schedule measures alone.

`retime_store` builds each workload's fastest records again (the store's own traces), times
them with MetaSchedule's runner (more repeats than tuning uses) and, once every workload is
done, rewrites the `run_secs` of the measured records in the record file, atomically. A
workload whose new fastest record was not among those measured has that one measured too, so
the record a build picks is always one timed quietly. Each measurement is appended to
`retimed.jsonl` beside the store as it is taken: a killed run resumes where it stopped, and a
later run measures only records it has not measured yet (a store grown by new tuning).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .board import Board
from .record_files import RECORD_FILE, RETIMED_FILE, mean_seconds, read_store, refuse_damaged, retimed_log
from .record_lock import replace_durably, store_lock

FAILED_SECS = 1e10  # what MetaSchedule stores for a candidate that failed to build or run
TOP_RECORDS = 3  # fastest records of a workload re-measured at first
MAX_RECORDS = 8  # at most this many per workload, while the fastest is not a re-measured one


def retimed(folder: Path) -> dict[int, list[float]]:
    """record line -> run_secs measured by `retime_store` (an unfinished or torn line is skipped:
    that record is measured again)."""
    return {entry["line"]: entry["run_secs"] for entry in retimed_log(folder / RETIMED_FILE)}


def record_lines(folder: Path) -> dict[int, list[tuple[int, float]]]:
    """workload index -> [(record line, mean run time)] of its valid records, as the file says."""
    return _by_workload(refuse_damaged(read_store(folder)).records)


def _by_workload(records) -> dict[int, list[tuple[int, float]]]:
    """records: (workload index, run_secs) per record line."""
    lines: dict[int, list[tuple[int, float]]] = {}
    for number, (workload, run_secs) in enumerate(records):
        secs = mean_seconds(run_secs)
        if secs is not None:
            lines.setdefault(workload, []).append((number, secs))
    return lines


def _current_seconds(record: tuple[int, float], done: dict[int, list[float]]) -> float:
    """A record's time as it now stands: re-measured if it was, as stored otherwise."""
    line, stored = record
    if line not in done:
        return stored
    secs = mean_seconds(done[line])
    return float("inf") if secs is None else secs


def to_measure(records: list[tuple[int, float]], done: dict[int, list[float]],
               max_records: int = MAX_RECORDS) -> list[int]:
    """The lines of one workload still to measure: its fastest `TOP_RECORDS` by current times
    (re-measured times replace stored ones), then, while the fastest was not re-measured, the
    next ones; none once `max_records` were measured (records tuned on a faster day can all
    read faster than they now run: the fastest of a workload of 100 may then stay unmeasured)."""
    ranked = sorted(records, key=lambda r: _current_seconds(r, done))
    measured = sum(line in done for line, _ in records)
    wanted = [line for line, _ in ranked[:TOP_RECORDS] if line not in done]
    if not wanted and ranked and ranked[0][0] not in done:
        wanted = [ranked[0][0]]
    return wanted[:max(0, max_records - measured)]


class StoreEntries:
    """The store's workload and record lines, parsed once; workloads decoded by TVM on demand."""

    def __init__(self, folder: Path):
        self.lines = refuse_damaged(read_store(folder))
        self.keys = self.lines.keys
        self.records = self.lines.records  # (workload index, run_secs) per record line
        self._decoded: dict[int, object] = {}

    def schedule(self, number: int):
        """(scheduled IRModule, args info) of record line `number`: its trace on its workload."""
        import tvm
        from tvm.s_tir import meta_schedule as ms

        windex = self.records[number][0]
        if windex not in self._decoded:
            self._decoded[windex] = ms.database.Workload.from_json(self.lines.workload_entry(windex))
        record = ms.database.TuningRecord.from_json(self.lines.record_entry(number), self._decoded[windex])
        sch = tvm.s_tir.Schedule(self._decoded[windex].mod)
        record.trace.apply_to_schedule(sch, remove_postproc=False)
        return sch.mod, record.args_info


def measure_records(entries: StoreEntries, lines: Iterable[int], board: Board, repeat: int,
                    rpc=None) -> dict[int, list[float]]:
    """Build the given record lines' schedules and time them with MetaSchedule's runner."""
    from tvm.s_tir import meta_schedule as ms

    from . import worker_pools
    from .tuner import SearchSettings

    target = board.target()
    order = list(lines)
    inputs = [entries.schedule(number) for number in order]
    if not inputs:
        return {}
    built = worker_pools.builder(board).build([ms.builder.BuilderInput(mod, target) for mod, _ in inputs])
    timing = SearchSettings(repeat=repeat)  # the tuner's timing, with more repeats
    runner = worker_pools.runner(board, timing.number, timing.repeat, timing.min_repeat_ms, rpc)
    device = "cpu" if target.kind.name == "llvm" else target.kind.name
    times = {}
    for number, (_, args_info), res in zip(order, inputs, built):
        times[number] = [FAILED_SECS]
        if res.error_msg:
            continue
        run = runner.run([ms.runner.RunnerInput(res.artifact_path, device, args_info)])[0].result()
        _remove_artifact(res.artifact_path)
        if not run.error_msg and run.run_secs:
            times[number] = [float(s) for s in run.run_secs]
    return times


def _remove_artifact(path: str) -> None:
    import shutil

    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def retime_store(folder: Path, board: Board, repeat: int = 10, first: Iterable[str] = (), rpc=None,
                 max_records: int = MAX_RECORDS, progress: bool = True) -> dict:
    """Re-measure the fastest records of every workload of the store in `folder`, then write
    their times into the record file. `first`: workload keys to measure before the others."""
    from tqdm import tqdm

    entries = StoreEntries(folder)
    keys = entries.keys
    lines = _by_workload(entries.records)
    priority = {key: rank for rank, key in enumerate(first)}
    order = sorted(lines, key=lambda w: (priority.get(keys[w], len(priority)), w))
    done = retimed(folder)
    measured_now = 0
    with (folder / RETIMED_FILE).open("a") as log:
        for windex in tqdm(order, desc=f"retime {board.name} records", unit="workload", disable=not progress):
            while wanted := to_measure(lines[windex], done, max_records):
                for number, run_secs in measure_records(entries, wanted, board, repeat, rpc).items():
                    done[number] = run_secs
                    log.write(json.dumps({"line": number, "workload": keys[windex], "run_secs": run_secs}) + "\n")
                    measured_now += 1
                log.flush()
                os.fsync(log.fileno())
    changed = apply_retimes(folder)
    unsettled = sum(min(lines[w], key=lambda r: _current_seconds(r, done))[0] not in done for w in order)
    return {"workloads": len(order), "measured_now": measured_now, "measured": len(done), "rewritten": changed,
            "unsettled": unsettled}


def apply_retimes(folder: Path) -> int:
    """Write the re-measured run times into the record file, under the store's lock (temporary
    file, fsync, rename): TVM's database, `records.best_times` and every build then rank by
    them. Other lines are copied byte for byte. Returns the number of lines changed."""
    done = retimed(folder)
    with store_lock(folder):
        lines = refuse_damaged(read_store(folder))  # under the lock: an unfinished last line is torn
        out, changed = [], 0
        for number, line in enumerate(lines.record_lines):
            if number in done and lines.records[number][1] != done[number]:
                windex, record = json.loads(line)
                record[1] = done[number]
                line = json.dumps([windex, record], separators=(",", ":")).encode()
                changed += 1
            out.append(line + b"\n")
        if changed:
            replace_durably(folder / RECORD_FILE, b"".join(out))
    return changed
