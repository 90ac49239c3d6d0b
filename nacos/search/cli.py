"""`nacos search` and `nacos report`: run a co-search (or its two-stage baseline), then read it out.

`nacos search` is a thin layer over `nacos.api.search`, which checks and runs everything."""

from __future__ import annotations

import json
from pathlib import Path

from .. import measuring
from ..errors import NacosError


def add_parser(subparsers) -> None:
    from .config import MODES, SearchConfig
    from .strategy import STRATEGIES

    d = SearchConfig()
    p = subparsers.add_parser("search", help="co-search architectures and schedules for a board")
    p.add_argument("--space", default=d.space)
    p.add_argument("--target", default=d.target)
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--mode", default=d.mode, choices=MODES,
                   help="one-stage: co-search with predicted, measured-where-it-pays latency; two-stage: "
                        "FLOPs-blind NAS, then its front tuned")
    p.add_argument("--budget", default="45m", help="wall-clock budget, e.g. 45m, 1h, 600s")
    p.add_argument("--strategy", default=d.strategy, choices=list(STRATEGIES))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--population", type=int, default=d.population)
    p.add_argument("--children", type=int, default=d.children, help="children screened per generation")
    p.add_argument("--evaluate", type=int, default=d.evaluate_per_generation,
                   help="children trained per generation (of those screened)")
    p.add_argument("--trials-per-task", type=int, default=d.trials_per_task)
    p.add_argument("--final-share", type=float, default=d.final_share,
                   help="one-stage: share of the budget kept to measure the predicted front (default %(default)s)")
    p.add_argument("--blind-share", type=float, default=d.blind_share,
                   help="two-stage: share of the budget for the FLOPs-blind NAS (default %(default)s)")
    p.add_argument("--train-epochs", type=float, default=d.train_epochs)
    p.add_argument("--train-images", type=int, default=d.train_images)
    p.add_argument("--reference", default=",".join(map(str, d.reference)),
                   help="hypervolume reference point ACCURACY,LATENCY_MS (default %(default)s)")
    p.add_argument("--max-params", type=float, help="constraint: parameters at most this many (e.g. 2e5)")
    p.add_argument("--max-flops", type=float, help="constraint: FLOPs at most this many (e.g. 5e6)")
    p.add_argument("--max-peak-memory", type=float, help="constraint: bytes of activations alive at once")
    p.add_argument("--out", type=Path, required=True, help="run folder (study.db, candidates/)")
    p.add_argument("--resume", action="store_true", help="continue the search in --out")
    p.add_argument("--schedules", type=Path, help="record store root (default: the user store over the shipped "
                                                 "records; with --resume, the one the search was started with)")
    measuring.add_arguments(p)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = subparsers.add_parser("report", help="Pareto CSV / JSON / PNG and hypervolume of a search run")
    p.add_argument("run")
    p.add_argument("--compare", type=Path, help="another run (e.g. the two-stage baseline) drawn beside it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)


def cmd_search(args) -> int:
    from .. import api

    study = api.search(args.space, out=args.out, mode=args.mode, target=args.target, dataset=args.dataset,
                       budget=args.budget, seed=args.seed, strategy=args.strategy, population=args.population,
                       children=args.children, evaluate=args.evaluate, trials_per_task=args.trials_per_task,
                       final_share=args.final_share, blind_share=args.blind_share, train_epochs=args.train_epochs,
                       train_images=args.train_images, reference=args.reference, max_params=args.max_params,
                       max_flops=args.max_flops, max_peak_memory=args.max_peak_memory, resume=args.resume,
                       schedules=args.schedules, rpc=args.rpc_tracker, rpc_key=args.rpc_key,
                       progress=not args.quiet)
    result = study.result
    study.close()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['mode']} search in {args.out}: {result['candidates']} candidates, {result['trained']} trained, "
              f"{result['predicted']} predicted, {result['measured']} measured, {result['trials']} trials, "
              f"{result['seconds']:.0f} s; front of "
              f"{len(result['front'])}, hypervolume {result['hypervolume']:.4f}  (next: nacos report {args.out})")
    return 0


def cmd_report(args) -> int:
    from .report import write_report

    if args.compare is not None and not args.compare.exists():
        raise NacosError(f"--compare run '{args.compare}' does not exist")
    payload = write_report(Path(args.run), args.compare)
    if args.json:
        print(json.dumps(payload, indent=1))
        return 0
    print(f"{payload['mode']} {payload['space']} on {payload['target']}: {payload['measured']} measured of "
          f"{payload['candidates']} candidates, {payload['trials']} trials, {payload['seconds']:.0f} s, "
          f"tasks served by the record store {_share(payload['tasks_served_by_store'])}")
    print(f"budget: {payload['trained']} trained ({payload['training_seconds']:.0f} s), {payload['predicted']} "
          f"predicted, {payload['measured']} measured ({payload['measuring_seconds']:.0f} s); policy choices "
          + (", ".join(f"{k} {v}" for k, v in sorted(payload["decisions"].items())) or "none"))
    if payload["prediction"]:
        q = payload["prediction"]
        print(f"latency predicted before measuring vs measured ({q['n']}): {100 * q['within_10pct']:.0f}% within "
              f"10%, MAPE {100 * q['mape']:.1f}%, Spearman {q['spearman']:.3f}")
    print(f"hypervolume {payload['hypervolume']:.4f} (reference accuracy {payload['reference'][0]}, "
          f"latency {payload['reference'][1]} ms)")
    if "compare" in payload:
        c = payload["compare"]
        print(f"compare {c['mode']} ({c['run']}): hypervolume {c['hypervolume']:.4f}, {c['measured']} measured, "
              f"{c['trials']} trials, tasks served by the record store {_share(c['tasks_served_by_store'])}")
    print(f"{'key':14s} {'accuracy':>9s} {'latency ms':>11s} {'gen':>4s}")
    for r in payload["front"]:
        print(f"{r['key']:14s} {r['accuracy']:9.4f} {r['latency_ms']:11.3f} {r['generation']:4d}")
    print(f"written: {args.run}/pareto.csv, pareto.json, pareto.png  (export one: nacos export {args.run} "
          f"--pick KEY --target BOARD --out DIR)")
    return 0


def _share(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
