"""Two-objective Pareto tools: maximise accuracy, minimise latency.

- `non_dominated_sort`: NSGA-II's fronts (Deb et al. 2002), front 0 the non-dominated points;
- `crowding_distance`: NSGA-II's spread measure inside one front (ends get infinity);
- `hypervolume`: the area the front dominates up to a reference point (accuracy_ref below every
  accuracy that counts, latency_ref above every latency that counts); points beyond the
  reference add nothing. Two fronts compare only under the same reference point.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]  # (accuracy, latency_ms)


def dominates(a: Point, b: Point) -> bool:
    """a is at least as good in both objectives and better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def non_dominated_sort(points: Sequence[Point]) -> list[list[int]]:
    """Indices of the points per front, best front first."""
    n = len(points)
    dominated_by = [[] for _ in range(n)]  # the points that i dominates
    count = [0] * n  # how many points dominate i
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominated_by[i].append(j)
                count[j] += 1
            elif dominates(points[j], points[i]):
                dominated_by[j].append(i)
                count[i] += 1
    fronts = [[i for i in range(n) if count[i] == 0]]
    while fronts[-1]:
        following = []
        for i in fronts[-1]:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    following.append(j)
        fronts.append(sorted(following))
    return fronts[:-1]


def pareto_front(points: Sequence[Point]) -> list[int]:
    return non_dominated_sort(points)[0] if points else []


def crowding_distance(points: Sequence[Point], front: Sequence[int]) -> dict[int, float]:
    distance = {i: 0.0 for i in front}
    for objective in (0, 1):
        ordered = sorted(front, key=lambda i: points[i][objective])
        low, high = points[ordered[0]][objective], points[ordered[-1]][objective]
        distance[ordered[0]] = distance[ordered[-1]] = float("inf")
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[here] += (points[after][objective] - points[before][objective]) / (high - low)
    return distance


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by the points within the box (accuracy >= ref acc, latency <= ref latency)."""
    acc_ref, lat_ref = reference
    inside = [(a, lat) for a, lat in points if a > acc_ref and lat < lat_ref]
    area, best_acc = 0.0, acc_ref
    for acc, lat in sorted(inside, key=lambda p: (p[1], -p[0])):  # fastest first
        if acc > best_acc:
            area += (acc - best_acc) * (lat_ref - lat)
            best_acc = acc
    return area
