"""Population strategies behind one interface: who survives a generation, who becomes a parent.

- `nsga2` (Deb et al. 2002): survivors by non-dominated front, then crowding distance; parents by
  binary tournament on (front, crowding).
- `regularized` (Real et al. 2019, aging evolution): the youngest survive; parents by tournament
  on front rank within a random sample.
- `random`: no parents; every child is a fresh sample (the baseline any search must beat).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..errors import NacosError
from .pareto import Point, crowding_distance, non_dominated_sort


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

    @abstractmethod
    def survivors(self, points: dict[str, Point], ages: dict[str, int], size: int) -> list[str]:
        """The keys kept for the next generation (`ages`: order of creation, larger is younger)."""

    def parent(self, population: list[str], points: dict[str, Point], rng: np.random.Generator) -> str:
        """Binary tournament on front rank and crowding."""
        ranks = _ranks({k: points[k] for k in population})
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
        return NSGA2().survivors(points, ages, size)  # only what is reported; children ignore it


STRATEGIES = {s.name: s for s in (NSGA2, RegularizedEvolution, RandomSearch)}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise NacosError(f"unknown search strategy '{name}'; strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]()
