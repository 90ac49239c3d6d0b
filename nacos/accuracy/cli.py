"""`nacos accuracy`: estimate the accuracy of one architecture with any of the estimators.

    nacos accuracy mbconv --seed 3                                   # short training + the proxies
    nacos accuracy mbconv --genotype g.json --estimators train --epochs 5 --train-images 0 --test
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NacosError

ESTIMATORS = ("train", "synflow", "naswot", "grad_norm")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("accuracy", help="estimate an architecture's accuracy: short training, zero-cost proxies")
    p.add_argument("space", help="space name (mbconv, hybrid, nb201, grassroots)")
    p.add_argument("--genotype", type=Path, help="genotype JSON file (default: a random one)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random genotype")
    p.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist (default) or digits")
    p.add_argument("--estimators", default=",".join(ESTIMATORS),
                   help=f"comma-separated, of {', '.join(ESTIMATORS)} (default: all)")
    p.add_argument("--epochs", type=float, default=2.0, help="short-training epochs (default 2)")
    p.add_argument("--seconds", type=float, default=None, help="cut short training to this many seconds")
    p.add_argument("--train-images", type=int, default=8000, help="training subset size; 0 = whole split")
    p.add_argument("--test", action="store_true", help="also report test-split accuracy after training")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_accuracy)


def parse_estimators(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or not names:
        raise NacosError(f"unknown estimator '{', '.join(unknown) or text}'; estimators: {', '.join(ESTIMATORS)}")
    return names


def make_estimator(name: str, space, dataset, recipe, progress: bool = False, test: bool = False):
    from .proxies import ProxyEstimator
    from .training import ShortTraining

    if name == "train":
        return ShortTraining(space, dataset, recipe, progress=progress, test=test)
    return ProxyEstimator(name, space, dataset)


def cmd_accuracy(args) -> int:
    import numpy as np

    from ..datasets import load_dataset
    from ..spaces import get_space
    from ..spaces.cli import read_genotype
    from .training import Recipe

    names = parse_estimators(args.estimators)
    recipe = Recipe(epochs=args.epochs, max_seconds=args.seconds,
                    train_images=None if args.train_images == 0 else args.train_images).check()
    space = get_space(args.space)
    genotype = read_genotype(space, args.genotype) if args.genotype else space.sample(np.random.default_rng(args.seed))
    dataset = load_dataset(args.dataset)
    estimates = [make_estimator(n, space, dataset, recipe, progress=not args.quiet, test=args.test).estimate(genotype)
                 for n in names]
    if args.json:
        print(json.dumps({"genotype": genotype.to_dict(), "key": genotype.key(), "dataset": dataset.name,
                          "estimates": [e.to_json() for e in estimates]}, indent=1))
        return 0
    print(f"{space.name} {genotype.key()} on {dataset.name}: {space.summary(genotype)}")
    for e in estimates:
        what = f"{e.value:.4f} {'accuracy' if e.is_accuracy else 'score'}"
        extra = ""
        if e.estimator == "train":
            d = e.details
            extra = (f"  ({d['epochs_done']:.2f} epochs on {d['recipe']['train_images'] or 'all'} images, "
                     f"loss {d['first_loss']:.3f} -> {d['last_loss']:.3f}"
                     + (f", test accuracy {d['test_accuracy']:.4f}" if "test_accuracy" in d else "") + ")")
        print(f"  {e.estimator:10s} {what:24s} {e.seconds:8.2f} s{extra}")
    return 0
