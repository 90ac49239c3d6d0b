"""One-stage co-search vs the two-stage way (NAS first, compile after), same budget, same seeds.

    python3 tools/bench_cosearch.py --budget 15m --seeds 21,22,23     # about 95 minutes: run it alone

Each mode runs `nacos search` for the same wall-clock budget and seed, each with its own empty
user store over the shipped record store (`$NACOS_HOME`, as a user runs it: neither profits from
the other's tuning, and only each workload's fastest shipped record is decoded) and its own empty task cache
(the one-stage run pays for lowering the network parts it predicts), with the same reference
point. The seeds must be clean: the networks either mode trains are checked against the shipped
latency data set (the networks `collect_latency` and earlier benchmarks put into the store), and
a seed whose generation 0 is in it is refused. Killed, it resumes: a finished run is read, an
unfinished one continued with `--resume`.

Prints per seed and mode: hypervolume of the measured front (latency measured after tuning, in
both modes) at the reference point and at a second one, candidates trained / predicted /
measured, trials, seconds spent measuring; per seed the one-stage / two-stage ratio; the mean
ratio; and how the latency predicted before measuring compared with the measurement inside the
one-stage runs. Writes the comparison plot with `nacos report --compare`.

Measured at commit 70c7ff5 (15 min, seeds 11, 12, 13): one-stage / two-stage hypervolume 1.116,
0.900, 1.914 at (0.5, 1 ms). At 3d56a0a (final share never before half the budget): 1.192, 0.831,
2.652 at (0.5, 1 ms), 1.206, 0.983, 1.459 at (0.5, 2 ms); seed 12 still lost, by training 14
large networks to the baseline's 64 small ones. At 809ebe4 (children trained by gain per expected
second, in both modes): 1.170, 0.884, 1.028 at (0.5, 1 ms), 1.180, 0.930, 1.028 at (0.5, 2 ms).
At bc7374d (a static FLOPs rung before the prediction, final measurements while worth it, the
two-stage measuring its next fronts with time left, user stores over the shipped one), on fresh
seeds 21, 22, 23: 1.130, 1.036, 1.127 (mean 1.098) at (0.5, 1 ms), 1.106, 1.045, 1.129 at (0.5, 2 ms).
At 145b7b2 (measurements only when they end within the budget, both modes), on fresh seeds 31,
32, 33: 0.955, 0.985, 1.104 (mean 1.015) at (0.5, 1 ms), 0.960, 1.027, 1.132 at (0.5, 2 ms).
At 8db5100 (children by gain per relative training cost from the start), on fresh seeds 41, 42,
43: 1.018, 1.076, 1.067 (mean 1.054) at (0.5, 1 ms), 1.021, 1.095, 1.094 at (0.5, 2 ms).
At b0b2bd0 (training cost cooling over the budget), on fresh seeds 51, 52, 53: 0.962, 1.117,
1.000 (mean 1.026) at (0.5, 1 ms), 0.963, 1.132, 1.026 at (0.5, 2 ms); the co-search trained
108, 116, 70 networks to the baseline's 140, 170, 138.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nacos.homes import SHIPPED_SCHEDULES  # noqa: E402
from nacos.search.config import parse_budget  # noqa: E402


def data_set_keys(target: str, space: str) -> set[str]:
    path = SHIPPED_SCHEDULES / target / f"latency_{space}.jsonl"
    return {json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()} if path.exists() \
        else set()


def generation_zero(space_name: str, seed: int, population: int) -> list[str]:
    """The keys a search of this seed samples first (as `Search.generation_zero` does)."""
    from nacos.spaces import get_space

    space, rng = get_space(space_name), np.random.default_rng(seed)
    keys: list[str] = []
    while len(keys) < population:
        key = space.sample(rng).key()
        if key not in keys:
            keys.append(key)
    return keys


def hypervolume_at(run: Path, reference: str) -> float:
    from nacos.search.pareto import hypervolume, pareto_front
    from nacos.search.report import measured_points, open_study

    store = open_study(run)
    points = [(r["accuracy"], r["latency_ms"]) for r in measured_points(store) if r["latency_ms"] is not None]
    store.close()
    ref = tuple(float(v) for v in reference.split(","))
    return hypervolume([points[i] for i in pareto_front(points)], ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="15m")
    parser.add_argument("--seeds", default="21,22,23", help="comma-separated")
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--target", default="x86")
    parser.add_argument("--reference", default="0.5,1", help="ACCURACY,LATENCY_MS for the hypervolume")
    parser.add_argument("--second-reference", default="0.5,2", help="another reference point, printed beside")
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_cosearch"))
    parser.add_argument("--extra", default="", help="more `nacos search` options, quoted")
    args = parser.parse_args()
    budget = parse_budget(args.budget)

    seeds = [int(s) for s in args.seeds.split(",")]
    known = data_set_keys(args.target, args.space)
    for seed in seeds:
        if set(generation_zero(args.space, seed, args.population)) & known:
            raise SystemExit(f"bench_cosearch: seed {seed} samples networks the shipped data set already holds; "
                             f"choose another seed")
    rows = []
    for seed in seeds:
        for mode in ("one-stage", "two-stage"):
            run = args.out / f"{mode}-seed{seed}"
            home = args.out / f"home-{mode}-seed{seed}"  # an empty user store over the shipped one
            cache = args.out / f"cache-{mode}-seed{seed}"
            resume = (run / "study.db").exists()
            if not resume:
                for folder in (home, cache):
                    shutil.rmtree(folder, ignore_errors=True)
                    folder.mkdir(parents=True)
            command = [sys.executable, "-m", "nacos", "search", "--mode", mode, "--space", args.space,
                       "--dataset", args.dataset, "--target", args.target, "--budget", args.budget,
                       "--seed", str(seed), "--reference", args.reference, "--population", str(args.population),
                       "--out", str(run), "--quiet", *args.extra.split()] + (["--resume"] if resume else [])
            print(" ".join(command), flush=True)
            env = {**os.environ, "NACOS_CACHE": str(cache.resolve()), "NACOS_HOME": str(home.resolve())}
            env.pop("NACOS_SCHEDULES", None)
            subprocess.run(command, check=True, env=env)
            report = subprocess.run([sys.executable, "-m", "nacos", "report", str(run), "--json"], check=True,
                                    capture_output=True, text=True, env=env)
            payload = json.loads(report.stdout)
            front_keys = {r["key"] for r in payload["front"]}
            rows.append({"seed": seed, "mode": mode, **payload, "run": run,
                         "hv2": hypervolume_at(run, args.second_reference), "in_data_set": len(front_keys & known)})
        subprocess.run([sys.executable, "-m", "nacos", "report", str(args.out / f"one-stage-seed{seed}"),
                        "--compare", str(args.out / f"two-stage-seed{seed}")], check=True, capture_output=True)

    print(f"\n{args.space} on {args.target}, {args.dataset}, budget {args.budget} ({budget:.0f} s) per run, "
          f"reference {args.reference} (second: {args.second_reference})")
    print(f"{'seed':>4s} {'mode':10s} {'HV':>7s} {'HV2':>7s} {'front':>5s} {'trained':>7s} {'predicted':>9s} "
          f"{'measured':>8s} {'trials':>6s} {'measuring s':>11s} {'seconds':>7s}")
    for r in rows:
        print(f"{r['seed']:4d} {r['mode']:10s} {r['hypervolume']:7.4f} {r['hv2']:7.4f} {len(r['front']):5d} "
              f"{r['trained']:7d} {r['predicted']:9d} {r['measured']:8d} {r['trials']:6d} "
              f"{r['measuring_seconds']:11.0f} {r['seconds']:7.0f}")
    ratios, ratios2 = [], []
    for seed in seeds:
        one, two = (next(r for r in rows if r["seed"] == seed and r["mode"] == m) for m in ("one-stage", "two-stage"))
        ratio = one["hypervolume"] / two["hypervolume"] if two["hypervolume"] else float("inf")
        ratio2 = one["hv2"] / two["hv2"] if two["hv2"] else float("inf")
        ratios.append(ratio)
        ratios2.append(ratio2)
        q = one["prediction"]
        quality = (f"predicted before measuring vs measured: {q['n']} networks, {100 * q['within_10pct']:.0f}% within "
                   f"10%, MAPE {100 * q['mape']:.1f}%, Spearman {q['spearman']:.3f}") if q else "nothing predicted"
        print(f"seed {seed}: one-stage / two-stage hypervolume = {ratio:.3f} (second reference {ratio2:.3f}); "
              f"{quality}; plot {one['run'] / 'pareto.png'}")
    print(f"mean ratio {np.mean(ratios):.3f} (min {min(ratios):.3f}); at the second reference {np.mean(ratios2):.3f} "
          f"(min {min(ratios2):.3f})")
    clashes = sum(r["in_data_set"] for r in rows)
    print(f"front networks already in the shipped data set: {clashes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
