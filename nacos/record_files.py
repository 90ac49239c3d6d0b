"""The record store's two files read line by line: what a reader may trust, and what is damaged.

MetaSchedule's JSONDatabase keeps one [structural hash, module] line per workload in
database_workload.json, numbered by line from 0, and one [workload number, record] line per
measured candidate in database_tuning_record.json. Writers append whole lines under the store's
lock (record_lock.py), so a reader takes the complete lines and leaves a last line without its
newline alone: it is being written, or a killed writer left it, and only a writer holding the
lock may cut it. Any other line TVM could not load is damage. It is found here cheaply (JSON
structure and numbers; TVM takes 40 s to decode the shipped store's 9,000 traces), reported
with its file and line, and `nacos records repair` drops it and keeps every intact line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NacosError

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
RETIMED_FILE = "retimed.jsonl"  # record line -> run_secs measured again quietly (record_timing.py)
DAMAGED, DUPLICATE = "damaged", "duplicate"  # a duplicate's records belong to its first line
_KEY = re.compile(rb'\s*\[\s*"(\d+)"\s*,')


@dataclass(frozen=True)
class Problem:
    file: str  # WORKLOAD_FILE or RECORD_FILE
    line: int  # from 1, as editors count
    what: str
    kind: str = DAMAGED

    def describe(self, folder: Path) -> str:
        return f"{Path(folder) / self.file} line {self.line} {self.what}"


@dataclass
class StoreLines:
    """The complete lines of a store's two files, checked; `problems` names the damaged ones."""

    folder: Path
    workload_lines: list[bytes]
    record_lines: list[bytes]
    keys: list[str | None] = field(default_factory=list)  # per workload line; None where damaged
    records: list[tuple[int, list | None] | None] = field(default_factory=list)  # (workload, run_secs)
    first_line: dict[str, int] = field(default_factory=dict)  # key -> its first workload line (from 0)
    unfinished: list[str] = field(default_factory=list)  # files whose last line has no newline yet
    problems: list[Problem] = field(default_factory=list)

    def workload_entry(self, n: int) -> list:
        return json.loads(self.workload_lines[n])

    def record_entry(self, n: int) -> list:
        """Record line n's record (trace, run_secs, target, args_info), parsed again on demand."""
        return json.loads(self.record_lines[n])[1]

    def text(self, file: str) -> bytes:
        lines = self.workload_lines if file == WORKLOAD_FILE else self.record_lines
        return b"".join(line + b"\n" for line in lines)


def complete_lines(path: Path) -> tuple[list[bytes], bytes]:
    """A file's lines that end in a newline, and the unfinished rest (b"" when there is none)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], b""
    end = data.rfind(b"\n") + 1
    return data[:end].split(b"\n")[:-1], data[end:]


def mean_seconds(run_secs) -> float | None:
    """A record's mean run time in s; None for a candidate that failed (MetaSchedule stores 1e10)."""
    if not run_secs:
        return None
    secs = sum(float(s) for s in run_secs) / len(run_secs)
    return None if secs >= 1e9 or secs != secs else secs


def retimed_log(path: Path):
    """The entries of a retimed.jsonl ({"line": record line, "run_secs": [...]}); a torn line is skipped."""
    for line in complete_lines(path)[0]:
        try:
            entry = json.loads(line)
            if isinstance(entry["line"], int) and isinstance(entry["run_secs"], list):
                yield entry
        except (ValueError, KeyError, TypeError):
            continue


def renumber_retimed(folder: Path, line_map: dict[int, int]) -> None:
    """After a repair dropped record lines, the retimed log's line numbers follow (old line -> new)."""
    from .record_lock import replace_durably

    path = folder / RETIMED_FILE
    if path.exists():
        kept = [json.dumps({**entry, "line": line_map[entry["line"]]}) + "\n"
                for entry in retimed_log(path) if entry["line"] in line_map]
        replace_durably(path, "".join(kept).encode())


def workload_key(line: bytes) -> str | None:
    """The key (structural hash, first field) of a workload line, without parsing the module."""
    match = _KEY.match(line)
    return match.group(1).decode() if match else None


def record_workload(line: bytes) -> int:
    """The workload number of a record line written by TVM (`[N,[...]]`)."""
    return int(line[line.index(b"[") + 1:line.index(b",")])


def renumbered(line: bytes, workload: int) -> bytes:
    """A record line filed under another workload number, the record's bytes unchanged."""
    return b"[%d," % workload + line[line.index(b",") + 1:]


def _inodes(folder: Path) -> tuple:
    return tuple(p.stat().st_ino if p.exists() else None for p in (folder / WORKLOAD_FILE, folder / RECORD_FILE))


def read_store(folder: Path) -> StoreLines:
    """Read and check a store without its lock.

    Records are read before workloads: every complete record line was appended after its
    workload's line, so the two reads agree while others append. A file replaced meanwhile
    (a repair renumbers workloads) makes the read start again.
    """
    folder = Path(folder)
    for _ in range(10):
        before = _inodes(folder)
        record_lines, record_tail = complete_lines(folder / RECORD_FILE)
        workload_lines, workload_tail = complete_lines(folder / WORKLOAD_FILE)
        if _inodes(folder) == before:
            break
    lines = StoreLines(folder, workload_lines, record_lines,
                       unfinished=[name for name, tail in ((WORKLOAD_FILE, workload_tail),
                                                           (RECORD_FILE, record_tail)) if tail])
    _check_workloads(lines)
    _check_records(lines)
    return lines


def read_layers(folders: list[Path]) -> StoreLines:
    """The checked lines of several stores read as one, each refused if damaged: the first
    layer's lines as they are, then each lower layer's workloads the layers above lack, and its
    records filed under the workload's number in the whole (the record bytes unchanged)."""
    whole = refuse_damaged(read_store(folders[0]))
    for folder in folders[1:]:
        lower = refuse_damaged(read_store(folder))
        if lower.workload_lines:
            whole = _stacked(whole, lower)
    return whole


def _stacked(upper: StoreLines, lower: StoreLines) -> StoreLines:
    whole = StoreLines(upper.folder, list(upper.workload_lines), list(upper.record_lines), list(upper.keys),
                       list(upper.records), dict(upper.first_line), list(upper.unfinished))
    number = {}  # lower workload line -> line in the whole
    for n, key in enumerate(lower.keys):
        if key not in whole.first_line:
            whole.first_line[key] = len(whole.workload_lines)
            whole.workload_lines.append(lower.workload_lines[n])
            whole.keys.append(key)
        number[n] = whole.first_line[key]
    for line, (workload, run_secs) in zip(lower.record_lines, lower.records):
        whole.record_lines.append(renumbered(line, number[workload]))
        whole.records.append((number[workload], run_secs))
    return whole


def _check_workloads(lines: StoreLines) -> None:
    for n, line in enumerate(lines.workload_lines):
        why = _workload_damage(line)
        key = None if why else workload_key(line)
        lines.keys.append(key)
        if why:
            lines.problems.append(Problem(WORKLOAD_FILE, n + 1, f"is not a workload ({why})"))
            continue
        first = lines.first_line.setdefault(key, n)
        if first != n:
            lines.problems.append(Problem(WORKLOAD_FILE, n + 1, f"repeats the workload of line {first + 1}",
                                          DUPLICATE))


def _workload_damage(line: bytes) -> str | None:
    if not line.strip():
        return "empty line"
    try:
        entry = json.loads(line)
    except ValueError:
        return "not JSON"
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) for v in entry)
            and entry[0].isdigit() and workload_key(line) == entry[0]):
        return "not [structural hash, module]"
    return None


def _check_records(lines: StoreLines) -> None:
    count = len(lines.workload_lines)
    for n, line in enumerate(lines.record_lines):
        entry, why = _record(line)
        if why is None:
            index = entry[0]
            if not 0 <= index < count:
                why = f"refers to workload {index}, which does not exist ({WORKLOAD_FILE} has {count} lines)"
            elif lines.keys[index] is None:
                why = f"refers to workload {index}, whose line {index + 1} is damaged"
        else:
            why = f"is not a tuning record ({why})"
        if why:
            lines.records.append(None)
            lines.problems.append(Problem(RECORD_FILE, n + 1, why))
        else:
            lines.records.append((entry[0], entry[1][1]))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _record(line: bytes):
    """(parsed line, None) for a line shaped as TVM writes records, else (None, why not)."""
    if not line.strip():
        return None, "empty line"
    try:
        entry = json.loads(line)
    except ValueError:
        return None, "not JSON"
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
            and not isinstance(entry[0], bool) and isinstance(entry[1], list) and len(entry[1]) == 4):
        return None, "not [workload number, [trace, run times, target, arguments]]"
    trace, run_secs, target, args_info = entry[1]
    if not (isinstance(trace, list) and len(trace) == 2 and all(isinstance(part, list) for part in trace)):
        return None, "its trace is not [instructions, decisions]"
    if not (run_secs is None or isinstance(run_secs, list) and all(map(_number, run_secs))):
        return None, "its run times are not numbers"
    if not (target is None or isinstance(target, dict)) or not (args_info is None or isinstance(args_info, list)):
        return None, "its target or arguments are malformed"
    return entry, None


def _tvm_reason(exc: Exception) -> str:
    """The line of a TVM error that says what was wrong (its messages embed whole JSON objects)."""
    text = str(exc)
    for marker in ("The error is:", "The error message is:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first if len(first) <= 160 else first[:157] + "..."


def decode_problems(lines: StoreLines, records: bool = False, progress: bool = False) -> list[Problem]:
    """What TVM itself cannot decode among the intact lines: the workloads (a few seconds for the
    shipped store) and, with `records`, every record on its workload (its trace replayed, as
    loading the store does: about 5 ms a record)."""
    from tqdm import tqdm
    from tvm.s_tir import meta_schedule as ms

    problems, decoded = [], {}
    for n, key in enumerate(lines.keys):
        if key is None or lines.first_line[key] != n:
            continue
        try:
            decoded[n] = ms.database.Workload.from_json(lines.workload_entry(n))
        except Exception as exc:  # TVM raises ValueError or its own errors
            problems.append(Problem(WORKLOAD_FILE, n + 1, f"does not decode with TVM ({_tvm_reason(exc)})"))
    for n, entry in enumerate(tqdm(lines.records, desc="decode records", unit="record",
                                   disable=not (records and progress))):
        if entry is None:
            continue
        first = lines.first_line[lines.keys[entry[0]]]
        if first not in decoded:
            problems.append(Problem(RECORD_FILE, n + 1,
                                    f"refers to workload {entry[0]}, which does not decode"))
        elif records:
            try:
                ms.database.TuningRecord.from_json(lines.record_entry(n), decoded[first])
            except Exception as exc:
                problems.append(Problem(RECORD_FILE, n + 1, f"does not decode on workload {entry[0]} "
                                                            f"with TVM ({_tvm_reason(exc)})"))
    return problems


def records_command(folder: Path, action: str) -> str:
    """`nacos records check|repair` for this store, with --schedules unless it is the default root."""
    from .homes import user_schedules

    folder = Path(folder)
    command = f"nacos records {action} --target {folder.name}"
    if folder.parent.resolve() != user_schedules().resolve():
        command += f" --schedules {folder.parent}"
    return command


def damaged_error(folder: Path, problems: list[Problem], deep: bool = False) -> NacosError:
    """One line: the first damaged line, how many more, and the repair command."""
    more = (f" (and {len(problems) - 1} more: `{records_command(folder, 'check')}` lists them)"
            if len(problems) > 1 else "")
    repair = records_command(folder, "repair") + (" --deep" if deep else "")
    return NacosError(f"damaged record store: {problems[0].describe(folder)}{more}; run `{repair}` "
                      f"to drop the damaged lines (every intact record is kept)")


def refuse_damaged(lines: StoreLines) -> StoreLines:
    if lines.problems:
        raise damaged_error(lines.folder, lines.problems)
    return lines


def load_failure(lines: StoreLines, exc: Exception, kept: list[int] | None = None) -> NacosError:
    """The error for a store whose lines all look intact but which TVM could not load: the record
    line TVM names (`kept`: the store's record line of each line TVM was given, from 0, when it
    was given only some), else the workload line that does not decode."""
    match = re.search(r"on line (\d+) of file", str(exc))
    if match:
        line = int(match.group(1)) if kept is None else kept[int(match.group(1)) - 1] + 1
        found = [Problem(RECORD_FILE, line, f"does not decode with TVM ({_tvm_reason(exc)})")]
    else:
        found = decode_problems(lines)
    if not found:
        return NacosError(f"TVM could not load the record store {lines.folder} ({_tvm_reason(exc)}); "
                          f"`{records_command(lines.folder, 'check')} --deep` looks for the damaged lines")
    return damaged_error(lines.folder, found, deep=found[0].file == RECORD_FILE)


def check_store(folder: Path, deep: bool = False, progress: bool = False) -> tuple[StoreLines, list[Problem]]:
    """Every problem of a store: the cheap checks, then TVM decoding (the records only if `deep`)."""
    lines = read_store(folder)
    return lines, lines.problems + decode_problems(lines, records=deep, progress=progress)


@dataclass
class Repair:
    workloads: int  # kept
    records: int  # kept
    dropped: list[Problem]
    renumbered: int  # records whose workload got another line
    unfinished_cut: list[str]


def repair_store(folder: Path, deep: bool = False, progress: bool = False) -> Repair:
    """Drop the damaged lines under the store's lock and keep every intact workload and record.

    Workload lines are kept in order, a repeated workload's records go to its first line, and a
    record's bytes are kept as they are (its workload number changes where earlier workload
    lines were dropped). Both files are written through temporary files; the line numbers in
    retimed.jsonl follow.
    """
    from .record_lock import cut_unfinished_line, replace_durably, store_lock

    folder = Path(folder)
    with store_lock(folder):
        lines, problems = check_store(folder, deep=deep, progress=progress)
        if not problems:
            cut = [name for name in lines.unfinished if cut_unfinished_line(folder / name)]
            return Repair(len(lines.workload_lines), len(lines.record_lines), [], 0, cut)
        bad_workloads = {p.line - 1 for p in problems if p.file == WORKLOAD_FILE and p.kind == DAMAGED}
        bad_records = {p.line - 1 for p in problems if p.file == RECORD_FILE}
        number: dict[int, int] = {}  # old workload line -> new
        workloads = []
        for n, key in enumerate(lines.keys):
            if key is not None and lines.first_line[key] == n and n not in bad_workloads:
                number[n] = len(workloads)
                workloads.append(lines.workload_lines[n])
        for n, key in enumerate(lines.keys):
            if key is not None and lines.first_line[key] in number:
                number[n] = number[lines.first_line[key]]
        records, line_map, moved = [], {}, 0
        for n, entry in enumerate(lines.records):
            if entry is None or n in bad_records or entry[0] not in number:
                continue
            line_map[n] = len(records)
            line = lines.record_lines[n]
            if number[entry[0]] != entry[0]:
                line, moved = renumbered(line, number[entry[0]]), moved + 1
            records.append(line)
        replace_durably(folder / RECORD_FILE, b"".join(line + b"\n" for line in records))
        replace_durably(folder / WORKLOAD_FILE, b"".join(line + b"\n" for line in workloads))
        renumber_retimed(folder, line_map)
    return Repair(len(workloads), len(records), problems, moved, list(lines.unfinished))
