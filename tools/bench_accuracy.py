"""How well do the cheap accuracy estimators rank architectures? Measured against short training.

    python3 tools/bench_accuracy.py                      # 30 MBConv genotypes, Fashion-MNIST (~30 min)
    python3 tools/bench_accuracy.py --reference-epochs 6 # and the fixed reference network's test accuracy

For N random distinct genotypes of a space: static costs (FLOPs, parameters), the zero-cost
proxies and the short-training validation accuracy, each timed. Prints the Spearman rank
correlation of each cheap estimator with the short-training accuracy over all N, and the
surrogate's (XGBoost ranking, fitted on the first `--fit` genotypes, tested on the rest) next to
the proxies' on the same held-out genotypes; plus seconds per candidate of each estimator.
Per-genotype results go to `--out` (JSON lines) as they finish: rerun the command to resume.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nacos.accuracy.cli import make_estimator  # noqa: E402
from nacos.accuracy.proxies import PROXIES  # noqa: E402
from nacos.accuracy.surrogate import RankingSurrogate  # noqa: E402
from nacos.accuracy.training import Recipe  # noqa: E402
from nacos.datasets import load_dataset  # noqa: E402
from nacos.spaces import Genotype, get_space  # noqa: E402
from nacos.spaces.lowering import distinct_samples  # noqa: E402

# A mid-sized MBConv network: width 1, two blocks per stage, 3x3 kernels, expansion 3, ReLU.
REFERENCE_MBCONV = {"width": 1.0, **{f"s{s}.{k}": v for s in range(4) for k, v in (("depth", 2), ("act", "relu"))},
                    **{f"s{s}.b{b}.{k}": v for s in range(4) for b in range(2)
                       for k, v in (("kernel", 3), ("expand", 3), ("se", False))},
                    **{f"s{s}.b1.skip": "add" for s in range(4)}, "s0.b0.skip": "add", "s3.b0.skip": "none"}


def measure(space, dataset, genotype, recipe) -> dict:
    row = {"key": genotype.key(), "genotype": genotype.to_dict(), "recipe": asdict(recipe), "dataset": dataset.name}
    start = time.perf_counter()
    costs = space.describe(genotype).costs()
    row.update(costs, describe_seconds=time.perf_counter() - start)
    for name in (*PROXIES, "train"):
        estimate = make_estimator(name, space, dataset, recipe, progress=True).estimate(genotype)
        row[name], row[f"{name}_seconds"] = estimate.value, estimate.seconds
    return row


def rho(a, b) -> float:
    return float(spearmanr(a, b).statistic)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--fit", type=int, default=20, help="genotypes the surrogate is fitted on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--train-images", type=int, default=8000)
    parser.add_argument("--reference-epochs", type=float, default=0,
                        help="also train the fixed reference MBConv network on the whole training split "
                             "for this many epochs and report its test accuracy")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_accuracy.jsonl"))
    args = parser.parse_args()

    space = get_space(args.space)
    dataset = load_dataset(args.dataset)
    recipe = Recipe(epochs=args.epochs, train_images=args.train_images)
    genotypes = distinct_samples(space, args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            if row["recipe"] == asdict(recipe) and row["dataset"] == dataset.name:  # else measured otherwise
                done[row["key"]] = row
    for i, genotype in enumerate(genotypes):
        if genotype.key() in done:
            continue
        print(f"[{i + 1}/{len(genotypes)}] {genotype.key()}", flush=True)
        row = measure(space, dataset, genotype, recipe)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        done[row["key"]] = row
    rows = [done[g.key()] for g in genotypes]

    accuracy = np.array([r["train"] for r in rows])
    cheap = [*PROXIES, "flops", "params"]
    print(f"\n{args.space} on {args.dataset}: {len(rows)} genotypes (seed {args.seed}), short training "
          f"{args.epochs:g} epochs on {args.train_images} images; validation accuracy "
          f"{accuracy.min():.4f}..{accuracy.max():.4f} (mean {accuracy.mean():.4f})")
    fit, held = slice(0, args.fit), slice(args.fit, None)
    start = time.perf_counter()
    surrogate = RankingSurrogate(space, seed=args.seed).fit([Genotype.from_json(r["genotype"]) for r in rows[fit]],
                                                            accuracy[fit])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = surrogate.predict([Genotype.from_json(r["genotype"]) for r in rows[held]])
    predict_seconds = (time.perf_counter() - start) / max(1, len(predicted))
    print(f"\n{'estimator':12s} {'Spearman (all ' + str(len(rows)) + ')':>18s} "
          f"{'Spearman (held-out ' + str(len(predicted)) + ')':>24s} {'s / candidate':>14s}")
    for name in cheap:
        values = np.array([r[name] for r in rows])
        seconds = np.mean([r[f"{name}_seconds"] for r in rows]) if f"{name}_seconds" in rows[0] \
            else np.mean([r["describe_seconds"] for r in rows])
        print(f"{name:12s} {rho(values, accuracy):18.3f} {rho(values[held], accuracy[held]):24.3f} {seconds:14.3f}")
    print(f"{'surrogate':12s} {'':>18s} {rho(predicted, accuracy[held]):24.3f} {predict_seconds:14.3f}"
          f"   (fitted on {args.fit} in {fit_seconds:.2f} s)")
    print(f"{'train':12s} {'(reference)':>18s} {'':>24s} {np.mean([r['train_seconds'] for r in rows]):14.3f}")

    if args.reference_epochs:
        reference = space.load({"space": "mbconv", "decisions": REFERENCE_MBCONV})
        full = Recipe(epochs=args.reference_epochs, train_images=None)
        estimate = make_estimator("train", space, dataset, full, progress=True, test=True).estimate(reference)
        d = estimate.details
        print(f"\nreference MBConv {reference.key()} ({space.describe(reference).flops / 1e6:.1f} MFLOPs), "
              f"{args.reference_epochs:g} epochs on all {len(dataset.train)} training images: validation "
              f"{estimate.value:.4f}, test {d['test_accuracy']:.4f} ({estimate.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
