"""Re-measure a record store's fastest records quietly and write their times back.

    python3 tools/retime_records.py --target x86            # the shipped store; run it alone

Tuning times each candidate once; a timing taken while the machine was busy can read twice the
real time and then ranks its record, and the store's best times, wrongly for good. This builds
the fastest records of every workload again (3, more while the fastest is not re-measured) and
times them with MetaSchedule's runner, 10 repeats. Tasks of the latency data set go first.
Interrupt it and run it again: measurements are kept in `retimed.jsonl` beside the store, and
the record file is rewritten once, at the end. After it, re-time the data set's networks with
`tools/collect_latency.py --retime` (builds may now pick other records) and refit the model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nacos.board import load_board  # noqa: E402
from nacos.costmodel.latency_dataset import read_samples  # noqa: E402
from nacos.record_timing import MAX_RECORDS, retime_store  # noqa: E402
from nacos.records import store_folder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="x86")
    parser.add_argument("--schedules", type=Path, help="record store root (default: schedules/)")
    parser.add_argument("--repeat", type=int, default=10, help="timings of each record")
    parser.add_argument("--max-records", type=int, default=MAX_RECORDS,
                        help="records of one workload measured at most, while its fastest is not a re-measured one")
    parser.add_argument("--rpc-tracker", help="HOST:PORT of a TVM RPC tracker: time on its board")
    parser.add_argument("--rpc-key", help="the board's key at the tracker")
    args = parser.parse_args()

    from nacos.cli import _rpc

    board = load_board(args.target)
    rpc = _rpc(args)
    if rpc is None and not board.runs_locally:
        raise SystemExit(f"retime_records: {board.name} cannot run here; give --rpc-tracker HOST:PORT --rpc-key KEY")
    os.environ.setdefault("TVM_NUM_THREADS", str(board.threads))
    folder = store_folder(board.name, args.schedules)
    first = [t["key"] for data in sorted(folder.glob("latency_*.jsonl")) for s in read_samples(data)
             for t in s["tasks"]]
    start = time.perf_counter()
    result = retime_store(folder, board, repeat=args.repeat, first=dict.fromkeys(first), rpc=rpc,
                          max_records=args.max_records)
    print(f"{result['workloads']} workloads: {result['measured_now']} records measured now, "
          f"{result['measured']} in all; {result['rewritten']} record lines rewritten in {folder}; "
          f"{time.perf_counter() - start:.0f} s")
    if result["unsettled"]:
        print(f"{result['unsettled']} workloads' fastest record is still an unmeasured one: raise --max-records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
