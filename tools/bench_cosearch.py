"""One-stage co-search vs the two-stage way (NAS first, compile after), same budget, same seeds.

    python3 tools/bench_cosearch.py --budget 30m --seeds 0          # about an hour: run it in the background

Each mode runs `nacos search` for the same wall-clock budget and seed, each from its own copy of
the shipped record store (so neither profits from the other's tuning), with the same reference
point. Prints, per mode and seed: hypervolume of the measured front (latency measured after
tuning for both), candidates trained and measured, trials spent and the share of tasks the
record store served; writes the comparison plot with `nacos report --compare`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="30m")
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--space", default="mbconv")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--target", default="x86")
    parser.add_argument("--reference", default="0.5,20")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_cosearch"))
    parser.add_argument("--extra", default="", help="more `nacos search` options, quoted")
    args = parser.parse_args()

    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for mode in ("one-stage", "two-stage"):
            run = args.out / f"{mode}-seed{seed}"
            schedules = args.out / f"schedules-{mode}-seed{seed}"
            resume = (run / "study.db").exists()
            if not resume:
                shutil.rmtree(schedules, ignore_errors=True)
                shutil.copytree(REPO / "schedules" / args.target, schedules / args.target)
            command = [sys.executable, "-m", "nacos", "search", "--mode", mode, "--space", args.space,
                       "--dataset", args.dataset, "--target", args.target, "--budget", args.budget,
                       "--seed", str(seed), "--reference", args.reference, "--out", str(run),
                       "--schedules", str(schedules), *args.extra.split()] + (["--resume"] if resume else [])
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)
            report = subprocess.run([sys.executable, "-m", "nacos", "report", str(run), "--json"], check=True,
                                    capture_output=True, text=True)
            rows.append({"seed": seed, "mode": mode, **json.loads(report.stdout)})
        subprocess.run([sys.executable, "-m", "nacos", "report", str(args.out / f"one-stage-seed{seed}"),
                        "--compare", str(args.out / f"two-stage-seed{seed}")], check=True)

    print(f"\n{args.space} on {args.target}, budget {args.budget} per run, reference {args.reference}")
    print(f"{'seed':>4s} {'mode':10s} {'HV':>8s} {'front':>5s} {'measured':>8s} {'trials':>7s} {'store share':>11s}")
    for r in rows:
        share = r["tasks_served_by_store"]
        print(f"{r['seed']:4d} {r['mode']:10s} {r['hypervolume']:8.4f} {len(r['front']):5d} {r['measured']:8d} "
              f"{r['trials']:7d} {'n/a' if share is None else f'{100 * share:.0f}%':>11s}")
    for seed in sorted({r["seed"] for r in rows}):
        one, two = (next(r for r in rows if r["seed"] == seed and r["mode"] == m) for m in ("one-stage", "two-stage"))
        ratio = one["hypervolume"] / two["hypervolume"] if two["hypervolume"] else float("inf")
        print(f"seed {seed}: one-stage / two-stage hypervolume = {ratio:.2f}; "
              f"plot {args.out / f'one-stage-seed{seed}' / 'pareto.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
