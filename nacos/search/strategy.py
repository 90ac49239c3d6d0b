"""Search strategies: they propose genotypes and are told the results (MetaSchedule's search
strategy, Optuna's sampler). A strategy owns its population; the search owns the budget.

- `nsga2` (Deb et al. 2002): survivors by non-dominated front, then crowding distance; parents by
  binary tournament on (front, crowding); children by mutation or crossover.
- `regularized` (Real et al. 2019, aging evolution): the youngest survive; parents by the same
  tournament within the population.
- `random`: every proposal is a fresh sample (the baseline any search must beat).

`create("name")` makes one; a Python caller can pass its own `Strategy` subclass instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import NacosError
from ..spaces.base import Genotype, Space
from .pareto import Point, crowding_distance, non_dominated_sort

ATTEMPTS_PER_PROPOSAL = 50  # proposals rejected (seen before, over a constraint) before giving up


@dataclass(frozen=True)
class Proposal:
    genotype: Genotype
    origin: str  # sample | mutation | crossover
    parents: tuple[str, ...] = ()


def _ranks(points: dict[str, Point]) -> dict[str, tuple[int, float]]:
    """key -> (front index, -crowding distance): smaller is better."""
    keys = list(points)
    values = [points[k] for k in keys]
    ranks = {}
    for number, front in enumerate(non_dominated_sort(values)):
        distance = crowding_distance(values, front)
        for i in front:
            ranks[keys[i]] = (number, -distance[i])
    return ranks


class Strategy(ABC):
    name: str
    uses_parents = True

    def __init__(self, size: int = 4):
        self.size = size
        self.population: list[str] = []  # candidate keys
        self.genotypes: dict[str, Genotype] = {}
        self.points: dict[str, Point] = {}

    # ------------------------------------------------------------------ told

    def tell(self, points: dict[str, Point], genotypes: dict[str, Genotype], ages: dict[str, int]) -> list[str]:
        """The results so far (key -> (accuracy, latency ms), genotypes, creation order: larger
        is younger); the strategy keeps its next population and returns it."""
        self.points, self.genotypes = dict(points), dict(genotypes)
        self.population = self.survivors(self.points, ages, self.size)
        return list(self.population)

    def restore(self, population: list[str], points: dict[str, Point], genotypes: dict[str, Genotype]) -> None:
        """Continue from a population kept in the study store (a resumed run)."""
        self.points, self.genotypes = dict(points), dict(genotypes)
        self.population = [k for k in population if k in points]

    @abstractmethod
    def survivors(self, points: dict[str, Point], ages: dict[str, int], size: int) -> list[str]:
        """The keys kept for the next generation."""

    # ------------------------------------------------------------------ proposing

    def propose(self, space: Space, count: int, rng: np.random.Generator,
                accept: Callable[[Genotype], bool]) -> list[Proposal]:
        """Up to `count` new genotypes that `accept` (new, within the constraints)."""
        proposals: list[Proposal] = []
        for _ in range(ATTEMPTS_PER_PROPOSAL * count):
            if len(proposals) == count:
                break
            proposal = self.one(space, rng)
            if proposal is None or any(p.genotype == proposal.genotype for p in proposals):
                continue
            if accept(proposal.genotype):
                proposals.append(proposal)
        return proposals

    def one(self, space: Space, rng: np.random.Generator) -> Proposal | None:
        parents = [k for k in self.population if k in self.points]
        if not self.uses_parents or len(parents) < 2:
            return Proposal(space.sample(rng), "sample")
        if rng.random() < 0.5:
            parent = self.parent(parents, rng)
            return Proposal(space.mutate(self.genotypes[parent], rng), "mutation", (parent,))
        a, b = self.parent(parents, rng), self.parent(parents, rng)
        if a == b:
            return None
        return Proposal(space.crossover(self.genotypes[a], self.genotypes[b], rng), "crossover", (a, b))

    def parent(self, population: list[str], rng: np.random.Generator) -> str:
        """Binary tournament on front rank and crowding."""
        ranks = _ranks({k: self.points[k] for k in population})
        a, b = (population[int(i)] for i in rng.choice(len(population), size=2, replace=len(population) < 2))
        return a if ranks[a] <= ranks[b] else b


class NSGA2(Strategy):
    name = "nsga2"

    def survivors(self, points, ages, size):
        ranks = _ranks(points)
        return sorted(points, key=lambda k: (ranks[k], -ages[k]))[:size]


class RegularizedEvolution(Strategy):
    name = "regularized"

    def survivors(self, points, ages, size):
        return sorted(points, key=lambda k: -ages[k])[:size]


class RandomSearch(Strategy):
    name = "random"
    uses_parents = False

    def survivors(self, points, ages, size):
        return NSGA2.survivors(self, points, ages, size)  # only what is reported; proposals ignore it


STRATEGIES = {s.name: s for s in (NSGA2, RegularizedEvolution, RandomSearch)}


def get_strategy(name: str, size: int = 4) -> Strategy:
    if name not in STRATEGIES:
        raise NacosError(f"unknown search strategy '{name}'; strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](size)


create = get_strategy
