"""How well does the x86 latency model predict tuned latency of architectures it never saw?

    python3 tools/bench_costmodel.py                      # the shipped data set, 5-fold

K-fold over the measured data set (seeded): per fold, the latency model is fitted on the other
folds, its task model on no workload that any of the fold's architectures uses (fitting
architectures that share one keep its measured time, but their blind view predicts it), and
predicts the fold's architectures twice: with the record store's measured task times (a
candidate tuned by the search) and blind (every task predicted by a task model that never saw
it, a candidate never tuned). Every architecture is held out exactly once. Prints share within
±10%, MAPE, Spearman and Kendall over all held-out predictions, next to two naive predictors
computed in the same run: FLOPs scaled by the fitting folds' median ms per FLOP, and the sum of
the tasks' best times; and the share of held-out task instances hidden from the task model.
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
from nacos.costmodel.latency_model import (fit_latency_model, predict_samples, score,  # noqa: E402
                                           store_workloads, task_sum_ms)
from nacos.records import store_folders  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="x86")
    parser.add_argument("--data", type=Path, help="default: the board's latency_mbconv.jsonl (the user's, "
                                                    "else the shipped one)")
    parser.add_argument("--schedules", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    board = load_board(args.target)
    folders = store_folders(board.name, args.schedules)
    data = args.data or next((f / "latency_mbconv.jsonl" for f in folders if (f / "latency_mbconv.jsonl").exists()),
                             folders[0] / "latency_mbconv.jsonl")
    samples = read_samples(data)
    folds = min(args.folds, len(samples))
    order = np.random.default_rng(args.seed).permutation(len(samples))
    workloads = store_workloads(folders)
    predicted = {name: [0.0] * len(samples) for name in ("known", "blind", "flops", "calibrated")}
    task_sum = [task_sum_ms(s, workloads) for s in samples]
    fit_seconds, instances, hidden = [], 0, 0
    for fold in range(folds):
        held_idx = order[fold::folds]
        held = [samples[i] for i in held_idx]
        fit = [samples[i] for i in order if i not in set(held_idx)]
        exclude = frozenset(t["key"] for s in held for t in s["tasks"])
        shared = exclude & {t["key"] for s in fit for t in s["tasks"]}
        start = time.perf_counter()
        model = fit_latency_model(fit, folders, board, seed=args.seed, exclude=exclude)
        fit_seconds.append(time.perf_counter() - start)
        held_keys = [t["key"] for s in held for t in s["tasks"]]
        instances += len(held_keys)
        hidden += sum(k not in model.task_model.trained_keys for k in held_keys)  # what it really saw
        values = predict_samples(model, held, folders)
        ms_per_flop = np.median([s["latency_ms"] / s["flops"] for s in fit])
        ratio = np.median([samples[i]["latency_ms"] / task_sum[i] for i in order if i not in set(held_idx)])
        for j, i in enumerate(held_idx):
            predicted["known"][i], predicted["blind"][i] = values["known"][j], values["blind"][j]
            predicted["flops"][i] = samples[i]["flops"] * ms_per_flop
            predicted["calibrated"][i] = task_sum[i] * ratio
        print(f"fold {fold + 1}/{folds}: {len(fit)} fitted, {len(held)} held out, {len(exclude)} task keys hidden "
              f"from the task model ({len(shared)} of them also in fitting networks), fit {fit_seconds[-1]:.1f} s",
              flush=True)

    measured = [s["latency_ms"] for s in samples]
    rows = [("model, store task times", score(predicted["known"], measured)),
            ("model, blind", score(predicted["blind"], measured)),
            ("FLOPs x median ms/FLOP", score(predicted["flops"], measured)),
            ("sum of tasks' best times", score(task_sum, measured)),
            ("same, calibrated*", score(predicted["calibrated"], measured))]
    print(f"\n{board.name}: {len(samples)} measured architectures ({min(measured):.3f}-{max(measured):.3f} ms), "
          f"{folds}-fold, seed {args.seed}; each predicted once by a model that never saw it; "
          f"fit {np.mean(fit_seconds):.1f} s per fold")
    print(f"  {'predictor':26s} {'within 10%':>10s} {'MAPE':>7s} {'Spearman':>9s} {'Kendall':>8s}")
    for name, s in rows:
        print(f"  {name:26s} {100 * s['within_10pct']:9.1f}% {100 * s['mape']:6.1f}% {s['spearman']:9.3f} "
              f"{s['kendall']:8.3f}")
    print("  * times the fitting folds' median measured / sum; it needs every task tuned, as 'store task "
          "times' does")
    print(f"  blind: {100 * hidden / instances:.1f}% of the {instances} held-out task instances (task keys of "
          f"held-out networks, counted per network) hidden from the task model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
