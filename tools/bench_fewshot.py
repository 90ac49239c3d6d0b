"""Acceptance protocol of the few-shot latency predictor on NAS-Bench-201 (HELP's setting).

1. Leave-one-device-out among the nine training devices (each one the target, the other eight
   the sources): the only numbers the predictor's settings were chosen on.
2. The four validation devices (titanx_1, titanx_32, titanx_256, gold_6240) as targets, the
   nine training devices as sources: 10 samples, seeds 0..4, Spearman over all other archs.
3. FLOPs alone on the same architectures, and how long a prediction of one arch takes.

    python3 tools/bench_fewshot.py [--data CSV] [--skip-loo] [--json OUT]

Reference (HELP, NeurIPS 2021, mean Spearman on unseen devices): HELP 0.93 with 10 samples,
BRP-NAS 0.79 with 900, FLOPs 0.79.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before xgboost loads: idle threads must not spin

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nacos.costmodel.fewshot import SourceModels, fit_fewshot, load_latency_table, run_fewshot  # noqa: E402
from nacos.costmodel.latency_table import default_table  # noqa: E402

DATA = default_table()  # $NACOS_LATENCY_TABLE, else the table shipped with NACOS
TRAINING = ("1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50", "pixel3",
            "essential_ph_1", "samsung_s7")
VALIDATION = ("titanx_1", "titanx_32", "titanx_256", "gold_6240")
SEEDS = range(5)
SAMPLES = 10
HELP_SPEARMAN = 0.93


def protocol(table, targets, sources_of, log) -> list[dict]:
    """Per target: mean and spread over seeds of the few-shot scores and the FLOPs baseline."""
    rows = []
    for target in targets:
        sources = list(sources_of(target))
        start = time.perf_counter()
        models = SourceModels(table, sources)
        train_s = time.perf_counter() - start
        runs = [run_fewshot(table, target, sources, SAMPLES, seed, sources=models) for seed in SEEDS]
        spearman = [r["spearman"] for r in runs]
        rows.append({"target": target, "spearman": float(np.mean(spearman)), "spearman_std": float(np.std(spearman)),
                     "spearman_per_seed": spearman, "kendall": float(np.mean([r["kendall"] for r in runs])),
                     "mape": float(np.mean([r["mape"] for r in runs])),
                     "flops_spearman": float(np.mean([r["flops_baseline"]["spearman"] for r in runs])),
                     "mean_log_spread": float(np.mean([r["mean_log_spread"] for r in runs])),
                     "source_training_s": train_s})
        log(rows[-1])
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'target':15s} {'Spearman':>9s} {'(std)':>7s} {'Kendall':>8s} {'MAPE':>7s} {'FLOPs':>7s} {'spread':>7s}")
    for r in rows:
        print(f"  {r['target']:15s} {r['spearman']:9.4f} {r['spearman_std']:7.4f} {r['kendall']:8.4f} "
              f"{100 * r['mape']:6.1f}% {r['flops_spearman']:7.4f} {r['mean_log_spread']:7.3f}")
    print(f"  {'mean':15s} {np.mean([r['spearman'] for r in rows]):9.4f} {'':7s} "
          f"{np.mean([r['kendall'] for r in rows]):8.4f} {100 * np.mean([r['mape'] for r in rows]):6.1f}% "
          f"{np.mean([r['flops_spearman'] for r in rows]):7.4f}")


def time_one_prediction(table) -> dict:
    """Seconds to predict one architecture (source models + ridge), one call per arch, and batched."""
    models = SourceModels(table, TRAINING)
    rows = np.random.default_rng(0).choice(len(table.archs), SAMPLES, replace=False)
    predictor = fit_fewshot(models, [table.archs[i] for i in rows], table.column("gold_6240")[rows])
    archs = list(table.archs[:200])
    start = time.perf_counter()
    for arch in archs:
        predictor.predict([arch])
    single = (time.perf_counter() - start) / len(archs)
    start = time.perf_counter()
    predictor.predict(list(table.archs))
    batched = (time.perf_counter() - start) / len(table.archs)
    return {"seconds_per_arch_single_call": single, "seconds_per_arch_batched": batched}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--skip-loo", action="store_true", help="only the validation devices")
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    args = parser.parse_args()
    table = load_latency_table(args.data)
    print(f"{args.data}: {len(table.archs)} connected archs ({table.dropped_disconnected} disconnected dropped); "
          f"{SAMPLES} samples, seeds {list(SEEDS)}")

    def log(row):
        print(f"  ... {row['target']}: Spearman {row['spearman']:.4f} (sources trained in "
              f"{row['source_training_s']:.0f} s)", file=sys.stderr, flush=True)

    out = {"samples": SAMPLES, "seeds": list(SEEDS)}
    if not args.skip_loo:
        out["leave_one_device_out"] = protocol(table, TRAINING, lambda t: [d for d in TRAINING if d != t], log)
    out["validation"] = protocol(table, VALIDATION, lambda t: TRAINING, log)
    out["timing"] = time_one_prediction(table)

    if "leave_one_device_out" in out:
        print_table("leave-one-device-out among the nine training devices (used to choose the settings)",
                    out["leave_one_device_out"])
    print_table("validation devices, sources = the nine training devices", out["validation"])
    mean = np.mean([r["spearman"] for r in out["validation"]])
    print(f"\nvalidation mean Spearman {mean:.4f} vs HELP {HELP_SPEARMAN} (10 samples): "
          f"{'beats' if mean > HELP_SPEARMAN else 'does not beat'} HELP")
    t = out["timing"]
    print(f"prediction time per arch: {1e3 * t['seconds_per_arch_single_call']:.2f} ms one at a time, "
          f"{1e6 * t['seconds_per_arch_batched']:.1f} us batched (9 source models + ridge)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
