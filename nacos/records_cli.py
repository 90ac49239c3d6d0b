"""`nacos records check|repair`: find, and drop, the damaged lines of a board's record store.

Registered into the main parser with `add_parser(subparsers)`; each command sets `func`, and
errors are NacosError, which the main CLI prints as one line. `check` exits 0 for a clean store
and 2 for a damaged one; `repair` keeps every intact workload and record (record_files.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import NacosError


def add_parser(subparsers) -> None:
    records = subparsers.add_parser("records", help="check or repair a board's tuning record store")
    commands = records.add_subparsers(dest="records_command", required=True)
    for name, func, text in (
            ("check", cmd_check, "list the store's damaged lines (exit 0 if there is none, 2 otherwise)"),
            ("repair", cmd_repair, "drop the damaged lines under the store's lock, keeping every intact record")):
        p = commands.add_parser(name, help=text)
        p.add_argument("--target", required=True, help="board name (nacos targets) or a board .toml file")
        p.add_argument("--schedules", type=Path, help="record store root (default: the user "
                                                          "store, $NACOS_HOME/schedules)")
        p.add_argument("--deep", action="store_true",
                       help="also replay every record on its workload with TVM, as loading the store does "
                            "(about 5 ms a record)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)


def _folder(args) -> Path:
    from .board import load_board
    from .records import store_folder

    folder = store_folder(load_board(args.target).name, args.schedules)
    if not folder.is_dir():
        raise NacosError(f"no record store at {folder}; check --target and --schedules")
    return folder


def cmd_check(args) -> int:
    from .record_files import check_store, records_command
    from .records import mean_seconds

    folder = _folder(args)
    lines, problems = check_store(folder, deep=args.deep, progress=not args.json)
    measured = sum(1 for entry in lines.records if entry is not None and mean_seconds(entry[1]) is not None)
    if args.json:
        print(json.dumps({"store": str(folder), "workloads": len(lines.workload_lines),
                          "records": len(lines.record_lines), "measured": measured,
                          "unfinished": lines.unfinished,
                          "problems": [{"file": p.file, "line": p.line, "what": p.what} for p in problems]},
                         indent=1))
    else:
        print(f"{folder}: {len(lines.workload_lines)} workloads, {len(lines.record_lines)} records "
              f"({measured} measured)" + ("" if args.deep else "; traces not replayed (--deep does)"))
        for name in lines.unfinished:
            print(f"  {name}: last line unfinished (being written, or cut by a kill): readers skip it")
        for p in problems:
            print(f"  {p.file} line {p.line} {p.what}")
        print(f"{len(problems)} damaged lines: run `{records_command(folder, 'repair')}"
              f"{' --deep' if args.deep else ''}`" if problems else "no damage")
    return 2 if problems else 0


def cmd_repair(args) -> int:
    from .record_files import repair_store

    folder = _folder(args)
    try:
        done = repair_store(folder, deep=args.deep, progress=not args.json)
    except OSError as exc:  # a read-only store, a full disk: the files are whole or as before
        raise NacosError(f"could not repair {folder}: {exc}") from None
    if args.json:
        print(json.dumps({"store": str(folder), "workloads": done.workloads, "records": done.records,
                          "renumbered": done.renumbered, "unfinished_cut": done.unfinished_cut,
                          "dropped": [{"file": p.file, "line": p.line, "what": p.what} for p in done.dropped]},
                         indent=1))
        return 0
    for p in done.dropped:
        print(f"dropped {p.file} line {p.line}: {p.what}")
    for name in done.unfinished_cut:
        print(f"cut the unfinished last line of {name}")
    print(f"{folder}: kept {done.workloads} workloads and {done.records} records"
          + (f", {done.renumbered} records renumbered to their workload's new line" if done.renumbered else "")
          + ("" if done.dropped or done.unfinished_cut else "; nothing to repair"))
    return 0
