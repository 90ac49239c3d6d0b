"""How much the tuning tasks of random architectures overlap, per search space.

    python3 tools/space_overlap.py [-n 20] [--seed 0] [--target x86] [--spaces mbconv,nb201] [--json]

For each space, lowers n distinct random genotypes to Relax, extracts their tasks for the board
and prints: tasks per genotype (mean), unique tasks, those met in two genotypes or more, their
share of the unique tasks, and the reuse share: of all task instances (a genotype's distinct
tasks, summed), those whose key an earlier genotype already had, i.e. the tuning that records
of earlier genotypes save. Definitions in nacos/spaces/lowering.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings


def main() -> int:
    from nacos.board import load_board
    from nacos.spaces import SPACES, get_space
    from nacos.spaces.lowering import task_overlap

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="random genotypes per space")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", default="x86")
    parser.add_argument("--spaces", default=",".join(SPACES), help="comma-separated space names")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    board = load_board(args.target)
    rows = []
    if not args.json:
        print(f"task overlap over {args.n} random genotypes per space (seed {args.seed}, target {board.name})")
        print(f"{'space':11s} {'tasks/genotype':>14s} {'unique':>7s} {'in>=2':>6s} {'shared share':>12s} "
              f"{'reuse share':>11s} {'seconds':>8s}")
    for name in args.spaces.split(","):
        start = time.perf_counter()
        overlap = task_overlap(get_space(name), n=args.n, seed=args.seed, board=board)
        seconds = time.perf_counter() - start
        rows.append({**overlap.to_json(), "seconds": seconds})
        if not args.json:
            print(f"{name:11s} {overlap.task_instances / overlap.genotypes:14.1f} {overlap.unique_tasks:7d} "
                  f"{overlap.shared_tasks:6d} {overlap.shared_share:12.1%} {overlap.reuse_share:11.1%} "
                  f"{seconds:8.0f}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
