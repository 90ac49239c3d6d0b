"""Genotypes into TVM through the foundation's import path, and how much their tasks overlap.

Tuning records are keyed by task (the structural hash of a fused TIR function), so a search
pays for tuning only the tasks it has not met before. `task_overlap` measures, over random
genotypes of a space, how often a task comes back:

- shared_share: unique tasks that appear in at least two genotypes / all unique tasks;
- reuse_share: task instances (a genotype's distinct tasks, summed over genotypes) whose key an
  earlier genotype already had / all instances. This is the share of tuning that records from
  earlier genotypes would save when the genotypes are tuned one after the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..board import Board, load_board
from ..errors import NacosError
from ..network import Network, from_torch
from .base import Genotype, Space


def lower(space: Space, genotype: Genotype, input_shape: Sequence[int] | None = None) -> Network:
    """The genotype's network imported into Relax (weights bound, batch-norm folded)."""
    shape = tuple(input_shape or space.input_shape)
    return from_torch(space.build(genotype, shape), [shape], name=f"{space.name}-{genotype.key()}")


@dataclass(frozen=True)
class Overlap:
    space: str
    genotypes: int
    task_instances: int  # distinct tasks per genotype, summed
    unique_tasks: int
    shared_tasks: int  # unique tasks found in two genotypes or more
    reused_instances: int  # instances whose task an earlier genotype had

    @property
    def shared_share(self) -> float:
        return self.shared_tasks / self.unique_tasks if self.unique_tasks else 0.0

    @property
    def reuse_share(self) -> float:
        return self.reused_instances / self.task_instances if self.task_instances else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "shared_share": self.shared_share, "reuse_share": self.reuse_share}


def overlap_of(space_name: str, task_keys: Iterable[set[str]]) -> Overlap:
    """Overlap of the task-key sets of genotypes, in the order they would be tuned."""
    seen_in: Counter[str] = Counter()
    instances = reused = genotypes = 0
    for keys in task_keys:
        genotypes += 1
        instances += len(keys)
        reused += sum(1 for k in keys if k in seen_in)
        seen_in.update(keys)
    return Overlap(space=space_name, genotypes=genotypes, task_instances=instances, unique_tasks=len(seen_in),
                   shared_tasks=sum(1 for count in seen_in.values() if count >= 2), reused_instances=reused)


def distinct_samples(space: Space, n: int, seed: int) -> list[Genotype]:
    rng = np.random.default_rng(seed)
    genotypes: dict[Genotype, None] = {}
    for _ in range(100 * n):
        genotypes.setdefault(space.sample(rng))
        if len(genotypes) == n:
            return list(genotypes)
    raise NacosError(f"space '{space.name}' gave fewer than {n} distinct genotypes in {100 * n} samples")


def task_overlap(space: Space, n: int = 20, seed: int = 0, board: Board | None = None) -> Overlap:
    """Overlap of the tasks of `n` distinct random genotypes of `space` for a board (default x86)."""
    from ..tasks import extract_tasks

    board = board or load_board("x86")
    target = board.target()
    keys = ({t.key for t in extract_tasks(lower(space, g).mod, target, prepack=board.weight_prepack)}
            for g in distinct_samples(space, n, seed))
    return overlap_of(space.name, keys)
