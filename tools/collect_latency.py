"""Measure tuned end-to-end latencies of random architectures: the cost model's x86 labels.

    python3 tools/collect_latency.py --space mbconv --target x86 -n 40 --trials-per-task 16

For each of `n` distinct random genotypes (seeded): lower it to Relax, tune the tasks the
board's record store does not know (`--trials-per-task` trials each; tasks met in earlier
architectures cost nothing), build with every record, check against PyTorch, time it, and
append one line to the data set. Interrupt it and run it again: finished architectures are
skipped and an interrupted tune resumes from its run folder.

    python3 tools/collect_latency.py --retime                 # time every sample again, quietly
    python3 tools/collect_latency.py --from-study runs/s1     # add a search's measured networks

Timings taken while something else ran on the machine are too slow, and so are the tuning
records' own timings. After collecting, re-measure the store's best records
(`tools/retime_records.py`), then `--retime`: it rebuilds each measured architecture with the
store's best records (a known task is never tuned again) and times it again, keeping the first
timing as `latency_ms_first`.

`--from-study RUN` adds the networks a `nacos search` run tuned and measured (their records
must be in the store: a search run on this store, or its copy merged back), marked with
`source` and the search's `trials_per_task`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nacos.board import load_board  # noqa: E402
from nacos.costmodel.latency_dataset import append_sample, read_samples, rewrite_samples  # noqa: E402
from nacos.records import RecordStore, store_folder  # noqa: E402
from nacos.spaces import Genotype, get_space  # noqa: E402
from nacos.spaces.lowering import distinct_samples, lower  # noqa: E402


def data_path(args, board, space) -> Path:
    """--data, or the board's data set for the space beside its records."""
    return args.data or store_folder(board.name, args.schedules) / f"latency_{space.name}.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--target", default="x86")
    parser.add_argument("-n", type=int, default=40, help="architectures to measure (in all, with earlier runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials-per-task", type=int, default=16, help="trials for each task the store lacks")
    parser.add_argument("--repeat", type=int, default=30, help="timing repeats of each network")
    parser.add_argument("--data", type=Path, help="data set file (default: schedules/<target>/latency_<space>.jsonl)")
    parser.add_argument("--schedules", type=Path, help="record store root (default: schedules/)")
    parser.add_argument("--runs", type=Path, default=Path("runs/collect"), help="per-architecture run folders")
    parser.add_argument("--retime", action="store_true", help="time the data set's architectures again")
    parser.add_argument("--from-study", type=Path, help="add the measured candidates of this search run")
    parser.add_argument("--rpc-tracker", help="HOST:PORT of a TVM RPC tracker: tune and time on its board")
    parser.add_argument("--rpc-key", help="the board's key at the tracker")
    args = parser.parse_args()
    if args.retime:
        return retime(args)
    if args.from_study:
        return from_study(args)

    from nacos.cli import _rpc
    from nacos.pipeline import tune_network
    from nacos.tasks import extract_tasks

    board = load_board(args.target)
    rpc = _rpc(args)
    if rpc is None and not board.runs_locally:
        raise SystemExit(f"collect_latency: {board.name} cannot run here; give --rpc-tracker HOST:PORT --rpc-key KEY")
    os.environ.setdefault("TVM_NUM_THREADS", str(board.threads))
    space = get_space(args.space)
    data = data_path(args, board, space)
    done = {s["key"] for s in read_samples(data)} if data.exists() else set()
    genotypes = distinct_samples(space, args.n, args.seed)
    for i, genotype in enumerate(genotypes):
        if genotype.key() in done:
            continue
        start = time.perf_counter()
        network = lower(space, genotype)
        tasks = extract_tasks(network.mod, board.target())
        store = RecordStore.open(board.name, args.schedules)  # holds what the last tune added
        new = sum(not store.known(t) for t in tasks)
        print(f"[{i + 1}/{len(genotypes)}] {genotype.key()}: {len(tasks)} tasks, {new} new", flush=True)
        summary = tune_network(network, board, args.runs / genotype.key(), new * args.trials_per_task,
                               schedules=args.schedules, repeat=args.repeat, rpc=rpc)
        if not (summary["check"] or {}).get("ok"):
            print(f"  skipped: output differs from PyTorch ({summary['check']})", flush=True)
            continue
        append_sample(data, {
            "space": space.name, "genotype": genotype.to_dict(), "key": genotype.key(), "target": board.name,
            "latency_ms": summary["latency"]["median_ms"], "latency_min_ms": summary["latency"]["min_ms"],
            "repeat": args.repeat, "tasks": summary["task_details"], "tasks_new": new,
            "trials_spent": summary["trials_spent"], "trials_per_task": args.trials_per_task,
            "tune_seconds": summary["tune_seconds"], "seconds": time.perf_counter() - start,
            **space.describe(genotype).costs()})
        summed = summary["estimated_latency_ms"]
        print(f"  {summary['latency']['median_ms']:.3f} ms (tasks' best sum "
              f"{'n/a' if summed is None else f'{summed:.3f}'} ms), "
              f"{summary['trials_spent']} trials, {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{len(read_samples(data))} architectures in {data}")
    return 0


def from_study(args) -> int:
    from nacos.records import workload_keys
    from nacos.search.store import STUDY_FILE
    from nacos.search.store import StudyStore

    board = load_board(args.target)
    space = get_space(args.space)
    data = data_path(args, board, space)
    done = {s["key"] for s in read_samples(data)} if data.exists() else set()
    stored = set(workload_keys(store_folder(board.name, args.schedules)))
    study = StudyStore(args.from_study / STUDY_FILE)
    config = study.setting("config")
    if config["space"] != space.name or config["target"] != board.name:
        raise SystemExit(f"collect_latency: {args.from_study} searched {config['space']} on {config['target']}")
    added = 0
    for c in study.candidates():
        e = study.estimate(c, "latency", "measured")
        if e is None or c.key in done or not e.details.get("tasks"):
            continue
        missing = [t["key"] for t in e.details["tasks"] if t["key"] not in stored]
        if missing:
            print(f"{c.key}: {len(missing)} tasks are not in the record store; skipped", flush=True)
            continue
        append_sample(data, {
            "space": space.name, "genotype": c.genotype.to_dict(), "key": c.key, "target": board.name,
            "latency_ms": e.value, "latency_min_ms": e.details.get("min_ms"), "repeat": 30,
            "tasks": e.details["tasks"], "trials_per_task": config["trials_per_task"],
            "source": f"search {args.from_study}", **space.describe(c.genotype).costs()})
        added += 1
    print(f"{added} measured networks of {args.from_study} added to {data}")
    return 0


def retime(args) -> int:
    from tqdm import tqdm

    from nacos import compiler

    board = load_board(args.target)
    os.environ.setdefault("TVM_NUM_THREADS", str(board.threads))
    space = get_space(args.space)
    data = data_path(args, board, space)
    samples = read_samples(data)
    store = RecordStore.open(board.name, args.schedules)
    for sample in tqdm(samples, desc="retime", unit="net"):
        network = lower(space, space.validate(Genotype.from_json(sample["genotype"])))
        inputs = network.sample_inputs()
        vm = compiler.load_vm(compiler.build(network.mod, board, store))
        if not compiler.compare(compiler.run(vm, inputs), network.reference(inputs)).ok:
            print(f"{sample['key']}: output differs from PyTorch; timing kept", flush=True)
            continue
        latency = compiler.time_ms(vm, inputs, repeat=args.repeat)
        sample.setdefault("latency_ms_first", sample["latency_ms"])
        sample["latency_ms"], sample["latency_min_ms"] = latency["median_ms"], latency["min_ms"]
        print(f"{sample['key']}: {sample['latency_ms_first']:.3f} -> {sample['latency_ms']:.3f} ms", flush=True)
    rewrite_samples(data, samples)
    print(f"{len(samples)} architectures timed again in {data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
