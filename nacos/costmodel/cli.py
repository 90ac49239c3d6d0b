"""`nacos costmodel ...`: learned latency predictors, trained and judged from the command line.

Registered into the main parser with `add_parser(subparsers)`; each command sets `func`, and
errors are NacosError, which the main CLI prints as one line. A new command is one more
`commands.add_parser(...)` block in `add_parser` plus its `cmd_*` function.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import measuring
from ..errors import NacosError


def add_parser(subparsers) -> None:
    costmodel = subparsers.add_parser("costmodel", help="learned latency predictors (cost models)")
    commands = costmodel.add_subparsers(dest="costmodel_command", required=True)

    p = commands.add_parser("fewshot", help="predict a new device's NAS-Bench-201 latencies from a few samples "
                                            "and other devices, and score the prediction")
    p.add_argument("--data", type=Path,
                   help="latency CSV (or .csv.gz): nb201_index,arch, then one column of milliseconds per device "
                        "(default: $NACOS_LATENCY_TABLE, else the 13-device NAS-Bench-201 table shipped with NACOS)")
    p.add_argument("--target-device", required=True, help="column of the device to predict")
    p.add_argument("--source-devices", required=True, help="comma-separated columns the predictor learns from")
    p.add_argument("--samples", type=int, default=10, help="measured target architectures the predictor may see")
    p.add_argument("--seed", type=int, default=0, help="which target architectures are the samples")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fewshot)

    p = commands.add_parser("collect", help="tune and time random architectures of a space: the board's latency "
                                            "data set (resumable)")
    _board_arguments(p)
    p.add_argument("--space", default="mbconv")
    p.add_argument("-n", type=int, default=40, help="architectures to measure (in all, with earlier runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trials-per-task", type=int, default=16, help="trials for each task the store lacks")
    p.add_argument("--repeat", type=int, default=30, help="timing repeats of each network")
    p.add_argument("--data", type=Path, help="data set file (default: latency_SPACE.jsonl in the board's store)")
    p.add_argument("--runs", type=Path, default=Path("runs/collect"), help="per-architecture run folders")
    p.add_argument("--retime", action="store_true", help="time the data set's architectures again instead")
    p.add_argument("--from-study", type=Path, help="add the measured candidates of this search run instead")
    measuring.add_arguments(p, "tune and time")
    p.set_defaults(func=cmd_collect)

    p = commands.add_parser("retime", help="re-measure the record store's fastest records quietly and write "
                                           "their times back (resumable; run it alone)")
    _board_arguments(p)
    p.add_argument("--repeat", type=int, default=10, help="timings of each record")
    p.add_argument("--max-records", type=int,
                   help="records of one workload measured at most, while its fastest is not a re-measured one "
                        "(default: 8)")
    measuring.add_arguments(p, "time")
    p.set_defaults(func=cmd_retime)

    p = commands.add_parser("fit", help="fit a board's latency model on a measured data set (saved with its records)")
    _board_arguments(p)
    p.add_argument("--data", type=Path, required=True, help="latency data set (nacos costmodel collect)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-table", type=Path,
                   help="NAS-Bench-201 data sets only: other devices' latencies for the few-shot model "
                        "(default: $NACOS_LATENCY_TABLE, else the NAS-Bench-201 table shipped with NACOS)")
    p.add_argument("--source-devices", help="comma-separated table columns to learn from (default: all)")
    p.set_defaults(func=cmd_fit)

    p = commands.add_parser("eval", help="score a board's latency model on measured networks it did not see")
    _board_arguments(p)
    p.add_argument("--data", type=Path, required=True, help="held-out latency data set")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser("predict", help="predict the tuned latency of a genotype on a board")
    _board_arguments(p)
    p.add_argument("genotype", type=Path, help="genotype JSON file (nacos space show NAME --json gives one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)


def _board_arguments(p) -> None:
    p.add_argument("--target", default="x86", help="board name (nacos targets) or a board .toml file")
    p.add_argument("--schedules", type=Path, help="record store root (default: the user store, with the shipped "
                                                  "records and models under it)")


def _board_and_folders(args):
    """The board and its record store layers, the written one first (read from the files; TVM's
    decoding is not needed). Models are saved to the first and loaded from the first that has one."""
    from ..board import load_board
    from ..records import store_folders

    board = load_board(args.target)
    return board, store_folders(board.name, args.schedules)


def cmd_collect(args) -> int:
    from ..board import load_board
    from ..spaces import get_space
    from . import collect

    board = load_board(args.target)
    space = get_space(args.space)
    data = collect.data_path(board, space, args.schedules, args.data)
    if args.from_study:
        found = collect.add_from_study(space, board, args.from_study, data=data, schedules=args.schedules)
        print(f"{found['added']} measured networks of {args.from_study} added to {data}"
              + (f" ({found['tasks_not_in_store']} skipped: tasks not in the record store)"
                 if found["tasks_not_in_store"] else ""))
        return 0
    if args.n < 1 or args.trials_per_task < 0 or args.repeat < 1:
        raise NacosError("-n and --repeat must be 1 or more and --trials-per-task 0 or more")
    rpc = measuring.from_args(args, board)
    measuring.use_board_threads(board)
    if args.retime:
        if rpc is not None:
            raise NacosError("--retime times on this machine; it does not take --rpc-tracker")
        done = collect.retime_samples(space, board, data=data, schedules=args.schedules, repeat=args.repeat)
        print(f"{done['timed']} architectures timed again in {data}"
              + (f"; {done['output_differs']} kept their timing (output differs)" if done["output_differs"] else ""))
        return 0
    done = collect.collect(space, board, args.n, seed=args.seed, trials_per_task=args.trials_per_task,
                           repeat=args.repeat, data=data, runs=args.runs, schedules=args.schedules, rpc=rpc)
    print(f"{done['measured']} architectures measured now, {done['in_data']} in {data}")
    return 0


def cmd_retime(args) -> int:
    import time

    from ..board import load_board
    from ..record_timing import MAX_RECORDS, retime_store
    from ..records import RECORD_FILE, store_folder
    from .latency_dataset import read_samples

    board = load_board(args.target)
    rpc = measuring.from_args(args, board)
    args.max_records = MAX_RECORDS if args.max_records is None else args.max_records
    if args.repeat < 1 or args.max_records < 1:
        raise NacosError("--repeat and --max-records must be 1 or more")
    measuring.use_board_threads(board)
    folder = store_folder(board.name, args.schedules)  # the written layer: shipped records are read-only
    if not (folder / RECORD_FILE).exists():
        raise NacosError(f"no tuning records in {folder} to re-measure; tune into it first, or name another "
                         f"store with --schedules")
    first = [t["key"] for data in sorted(folder.glob("latency_*.jsonl")) for s in read_samples(data)
             for t in s["tasks"]]  # the data set's tasks first
    start = time.perf_counter()
    result = retime_store(folder, board, repeat=args.repeat, first=dict.fromkeys(first), rpc=rpc,
                          max_records=args.max_records)
    print(f"{result['workloads']} workloads: {result['measured_now']} records measured now, "
          f"{result['measured']} in all; {result['rewritten']} record lines rewritten in {folder}; "
          f"{time.perf_counter() - start:.0f} s")
    if result["unsettled"]:
        print(f"{result['unsettled']} workloads' fastest record is still an unmeasured one: raise --max-records")
    return 0


def cmd_fit(args) -> int:
    import time

    from .latency_dataset import read_samples
    from .latency_model import check_enough, fit_latency_model

    samples = read_samples(args.data)
    if samples and all(s.get("space") == "nb201" for s in samples):
        return _fit_fewshot(args, samples)
    check_enough(samples)  # before the record store, which takes seconds to read
    board, folders = _board_and_folders(args)
    start = time.perf_counter()
    model = fit_latency_model(samples, folders, board, seed=args.seed)
    path = model.save(folders[0])
    print(f"fitted the {board.name} latency model on {len(samples)} measured networks and the record store's "
          f"workloads in {time.perf_counter() - start:.1f} s: {path}")
    return 0


def _fit_fewshot(args, samples) -> int:
    import time

    from .board_fewshot import fit_board_fewshot

    board, folders = _board_and_folders(args)
    start = time.perf_counter()
    sources = _device_list(args.source_devices) if args.source_devices else None
    model = fit_board_fewshot(samples, args.latency_table, board.name, sources, seed=args.seed)
    path = model.save(folders[0])
    print(f"fitted the {board.name} few-shot model on {len(samples)} measured NAS-Bench-201 networks and "
          f"{len(model.sources)} other devices in {time.perf_counter() - start:.1f} s: {path}")
    return 0


def cmd_eval(args) -> int:
    from .latency_dataset import read_samples
    from .latency_model import LatencyModel, evaluate_latency_model

    samples = read_samples(args.data)
    board, folders = _board_and_folders(args)
    model = LatencyModel.load(folders)
    scores = evaluate_latency_model(model, samples, folders)
    if args.json:
        print(json.dumps(scores, indent=1))
        return 0
    print(f"{board.name} latency model ({model.trained_on} training networks) on {len(samples)} measured networks")
    print(f"  {'task times':22s} {'within 10%':>10s} {'MAPE':>7s} {'Spearman':>9s} {'Kendall':>8s}")
    for mode, label in (("known", "record store"), ("blind", "all predicted")):
        s = scores[mode]
        print(f"  {label:22s} {100 * s['within_10pct']:9.1f}% {100 * s['mape']:6.1f}% {s['spearman']:9.3f} "
              f"{s['kendall']:8.3f}")
    return 0


def cmd_predict(args) -> int:
    import time

    from ..records import best_times
    from ..spaces import Genotype, get_space
    from ..spaces.task_cache import TaskCache
    from .board_fewshot import BoardFewShot
    from .latency_model import LatencyModel

    board, folders = _board_and_folders(args)
    try:
        genotype = Genotype.from_json(args.genotype.read_text())
    except OSError as exc:
        raise NacosError(f"cannot read genotype file '{args.genotype}': {exc.strerror}") from None
    space = get_space(genotype.space)
    genotype = space.validate(genotype)
    start = time.perf_counter()
    fewshot = BoardFewShot.load(folders) if space.name == "nb201" else None
    if fewshot is not None:
        result = {"genotype": genotype.key(), "target": board.name, "model": "few-shot",
                  "trained_on": fewshot.trained_on, **fewshot.predict([space.arch(genotype)])[0],
                  "predict_seconds": time.perf_counter() - start}
        read = 0.0
    else:
        if not LatencyModel.saved(folders):
            raise NacosError(f"no latency model for {board.name}: measure networks on it (nacos costmodel collect "
                             f"--target {board.name} --rpc-tracker HOST:PORT --rpc-key KEY; for nb201 genotypes 10 "
                             f"suffice for the few-shot model) and run `nacos costmodel fit --target {board.name}`")
        model = LatencyModel.load(folders)
        best = best_times(folders)
        read = time.perf_counter() - start
        cache = TaskCache(board)
        prediction, tasks, known = model.predict_genotype(space, genotype, cache, best)
        result = {"genotype": genotype.key(), "target": board.name, "model": "tasks + network",
                  "trained_on": model.trained_on, "tasks": len(tasks), "tasks_in_store": len(known),
                  **prediction.to_json(), "parts_lowered": cache.lowered, "store_read_seconds": read,
                  "predict_seconds": time.perf_counter() - start - read}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    r = result
    print(f"{space.name} {r['genotype']} on {board.name}: {r['latency_ms']:.3f} ms "
          f"(likely {r['low_ms']:.3f}..{r['high_ms']:.3f}), {r['model']} model of {r['trained_on']} measured networks; "
          f"prediction {r['predict_seconds'] * 1e3:.0f} ms"
          + (f"; {r['tasks']} tasks, {r['tasks_in_store']} in the store, {r['parts_lowered']} network parts "
             f"lowered (the rest cached), record store read {read:.1f} s" if "tasks" in r else ""))
    return 0


def _device_list(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise NacosError("--source-devices is empty; give comma-separated device columns")
    if len(set(devices)) != len(devices):
        raise NacosError(f"--source-devices names a device twice: {text}")
    return devices


def cmd_fewshot(args) -> int:
    from .fewshot import load_latency_table, run_fewshot
    from .latency_table import default_table

    sources = _device_list(args.source_devices)
    table = load_latency_table(args.data or default_table())
    result = run_fewshot(table, args.target_device, sources, samples=args.samples, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"target {result['target']}: {result['samples']} measured samples (seed {result['seed']}), "
          f"sources {', '.join(result['sources'])}")
    print(f"architectures: {result['archs']} connected ({result['dropped_disconnected']} disconnected dropped), "
          f"{result['evaluated']} scored (all but the samples)")
    print(f"  {'':16s} {'Spearman':>9s} {'Kendall':>9s} {'MAPE':>7s}")
    print(f"  {'few-shot':16s} {result['spearman']:9.4f} {result['kendall']:9.4f} {100 * result['mape']:6.1f}%")
    flops = result["flops_baseline"]
    print(f"  {'FLOPs alone':16s} {flops['spearman']:9.4f} {flops['kendall']:9.4f} {'':>7s}")
    print(f"mean uncertainty (std of log-latency over bootstrap refits): {result['mean_log_spread']:.3f}")
    return 0
