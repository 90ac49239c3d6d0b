"""Benchmark: does a cost model warm-started from the record store rank schedules of unseen workloads?

    python3 tools/bench_warm_start.py [--held-out 20] [--most 3000] [--seed 0]

Holds out `--held-out` random workloads of the shipped x86 store (each with 16 or more records),
warm-starts MetaSchedule's XGBoost model on the others (warm_start.py, the tune's own settings)
and scores every record of each held-out workload. Prints per workload the Spearman correlation
of score and measured speed, and whether the schedule scored best is in the measured top 10 %;
then their means against what a cold model does (random: Spearman 0, top-10 % one time in ten).
No held-out workload is in the warm-start data.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--most", type=int, default=3000)
    parser.add_argument("--per-workload", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import numpy as np
    from scipy.stats import spearmanr
    from tvm.s_tir import meta_schedule as ms

    from nacos.board import load_board
    from nacos.homes import SHIPPED_SCHEDULES
    from nacos.record_files import mean_seconds
    from nacos.records import best_times
    from nacos.warm_start import sample_records, warm_xgb

    folders = [SHIPPED_SCHEDULES / "x86"]
    target = load_board("x86").target()
    counts = {key: n for key, (_, n) in best_times(folders).items()}
    eligible = sorted(key for key, n in counts.items() if n >= 16)
    held = set(random.Random(args.seed).sample(eligible, min(args.held_out, len(eligible))))
    start = time.perf_counter()
    model = warm_xgb(folders, target, exclude=held, per_workload=args.per_workload, most=args.most,
                     seed=args.seed)
    fit_s = time.perf_counter() - start
    print(f"warm start: {model.data_size} records of {len(model.data)} workloads, {fit_s:.0f} s "
          f"(features + one training); {len(held)} held-out workloads")
    others = set(counts) - held
    tests = sample_records(folders, exclude=others, per_workload=1 << 20, most=1 << 30, seed=args.seed)
    rhos, hits = [], []
    print(f"{'workload':>22s} {'records':>8s} {'spearman':>9s} {'best in top 10%':>16s}")
    for key, (workload, records) in sorted(tests.items()):
        context = ms.TuneContext(mod=workload.mod, target=target)
        scores = np.asarray(model.predict(context, [r.as_measure_candidate() for r in records]))
        speed = -np.asarray([mean_seconds(r.run_secs) for r in records])
        rho = float(spearmanr(scores, speed).correlation)
        top = speed >= np.quantile(speed, 0.9)
        hit = bool(top[int(np.argmax(scores))])
        rhos.append(rho)
        hits.append(hit)
        print(f"{key:>22s} {len(records):8d} {rho:9.3f} {str(hit):>16s}")
    print(f"mean Spearman {np.nanmean(rhos):.3f} (cold: 0), predicted best in the measured top 10 %: "
          f"{sum(hits)}/{len(hits)} (cold: about {len(hits) / 10:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
