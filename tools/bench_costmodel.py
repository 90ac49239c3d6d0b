"""How well does the x86 latency model predict tuned latency of architectures it never saw?

    python3 tools/bench_costmodel.py                      # the shipped data set, 30% held out

Splits the measured data set (seeded) into fitting and held-out architectures, fits the latency
model on the first (its task model never sees a task that only held-out architectures have),
and scores the held-out ones twice: with the record store's measured task times (a candidate
tuned by the search) and blind (every task predicted, a candidate never tuned). Prints share
within ±10%, MAPE, Spearman and Kendall, next to the two naive predictors measured in the same
run: FLOPs scaled by the fitting set's median ms per FLOP, and the sum of the tasks' best times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nacos.board import load_board  # noqa: E402
from nacos.costmodel.latency_dataset import read_samples  # noqa: E402
from nacos.costmodel.latency_model import (evaluate_latency_model, fit_latency_model, score,  # noqa: E402
                                           store_workloads)
from nacos.records import RecordStore, default_root  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="x86")
    parser.add_argument("--data", type=Path, help="default: schedules/<target>/latency_mbconv.jsonl")
    parser.add_argument("--schedules", type=Path)
    parser.add_argument("--held-out", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    board = load_board(args.target)
    data = args.data or (args.schedules or default_root()) / board.name / "latency_mbconv.jsonl"
    samples = read_samples(data)
    order = np.random.default_rng(args.seed).permutation(len(samples))
    cut = max(1, round(len(samples) * args.held_out))
    held = [samples[i] for i in order[:cut]]
    fit = [samples[i] for i in order[cut:]]
    fit_tasks = {t["key"] for s in fit for t in s["tasks"]}
    held_only = frozenset(t["key"] for s in held for t in s["tasks"]) - fit_tasks
    store = RecordStore(board.name, args.schedules)

    start = time.perf_counter()
    model = fit_latency_model(fit, store, board, seed=args.seed, exclude=held_only)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = evaluate_latency_model(model, held, store)
    per_network = (time.perf_counter() - start) / (2 * len(held))

    measured = [s["latency_ms"] for s in held]
    ms_per_flop = np.median([s["latency_ms"] / s["flops"] for s in fit])
    workloads = store_workloads(store)
    task_sum = [sum(t["weight"] * workloads[t["key"]][1] for t in s["tasks"]) * 1e3 for s in held]
    rows = [("model, store task times", scores["known"]), ("model, blind", scores["blind"]),
            ("FLOPs x median ms/FLOP", score([s["flops"] * ms_per_flop for s in held], measured)),
            ("sum of tasks' best times", score(task_sum, measured))]
    print(f"{board.name}: {len(fit)} architectures fitted, {len(held)} held out (seed {args.seed}); "
          f"{len(held_only)} tasks only in held-out architectures, hidden from the task model; "
          f"fit {fit_seconds:.1f} s, {per_network * 1e3:.0f} ms per prediction (tasks given)")
    print(f"  {'predictor':26s} {'within 10%':>10s} {'MAPE':>7s} {'Spearman':>9s} {'Kendall':>8s}")
    for name, s in rows:
        print(f"  {name:26s} {100 * s['within_10pct']:9.1f}% {100 * s['mape']:6.1f}% {s['spearman']:9.3f} "
              f"{s['kendall']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
