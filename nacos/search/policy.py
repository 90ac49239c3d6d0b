"""When a trained candidate pays to be measured (tuned and timed) in a one-stage search.

Measuring costs 10-60 s (tuning the tasks the record store lacks, building, timing), training
about 12 s, a latency prediction 0.2 s. So the one-stage search predicts every candidate and
measures few (`FrontPolicy`):
- skip: even one spread faster than predicted, the candidate is dominated by the measured front
  (the front only grows, so it never will be on it);
- measure now: it could change the front and its prediction is uncertain: a wide spread, or
  much of its predicted time from tasks the store has never tuned (tuning them also turns the
  blind part of later predictions of its relatives into store times);
- defer: predicted on the front and confidently so, or behind another unmeasured candidate's
  prediction: measured in the final share of the budget if it is still on the predicted front.
Before the final share, measuring may take at most `search_share` of the time spent (one
measurement of a network with many untuned tasks costs as much as training five).
The spread used is the model's own, but never below the error this search has seen between
prediction and measurement so far (the model's bootstrap spread understates it).
`MeasureAll` measures every trained candidate (the loop before this policy; an ablation).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from .estimators import Guess
from .pareto import Point, dominates, hypervolume, pareto_front

DEFAULT_ERROR = 0.10  # log-latency error assumed before this search has measured a prediction
WORTH_SHARE = 0.25  # a final measurement must earn this share of the search's hypervolume per second


@dataclass(frozen=True)
class Choice:
    action: str  # measure | defer | skip
    reason: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Situation:
    """What a policy sees: measured points, predicted points of the trained-unmeasured ones."""

    measured: dict[str, Point]
    predicted: dict[str, Point]
    guesses: dict[str, Guess]  # latency guesses of the predicted ones
    error: float  # log-latency error seen between predictions and measurements
    reference: Point
    elapsed: float = 0.0  # seconds the search has run (0: no worth test in `final_pick`)


def prediction_error(pairs: list[tuple[float, float]]) -> float:
    """Root mean square log error of (predicted, measured) pairs; the default before any."""
    if not pairs:
        return DEFAULT_ERROR
    return float(np.sqrt(np.mean([math.log(m / p) ** 2 for p, m in pairs])))


def gain(point: Point, front: list[Point], reference: Point) -> float:
    return hypervolume(front + [point], reference) - hypervolume(front, reference)


class MeasurePolicy(ABC):
    name: str
    per_generation = 1  # measurements a generation may start before the final share
    search_share = 0.2  # of the time spent before the final share, at most this much measuring

    def may_measure_now(self, measuring_seconds: float, elapsed: float, cost: float) -> bool:
        """Whether a measurement of `cost` seconds keeps the search's measuring within its share."""
        return measuring_seconds + cost <= self.search_share * (elapsed + cost)

    @abstractmethod
    def decide(self, key: str, situation: Situation) -> Choice:
        """After training: measure the candidate now, later, or never."""

    def final_pick(self, situation: Situation, cost, seconds_left: float = math.inf) -> tuple[str, Choice] | None:
        """In the final share: the predicted-front member worth most hypervolume per second, if
        it is worth at least WORTH_SHARE of the measured front's hypervolume per second of the
        search so far, and its measurement fits in `seconds_left`; otherwise None and the search
        trains more. Seed 12 of the 15-minute
        benchmark at 809ebe4 spent its last 110 s measuring three networks expected to add 0.0017
        to a hypervolume of 0.2 (5e-6 to 2e-5 per second against a search average of 3e-4)."""
        keys = list(situation.measured) + list(situation.predicted)
        points = [situation.measured.get(k) or situation.predicted[k] for k in keys]
        front_now = list(situation.measured.values())
        best = None
        for i in pareto_front(points):
            key = keys[i]
            if key not in situation.predicted:
                continue
            expected = gain(situation.predicted[key], front_now, situation.reference)
            if expected <= 0:
                continue
            seconds = cost(key)
            if seconds > seconds_left:
                continue
            if best is None or expected / seconds > best[1]:
                best = (key, expected / seconds, expected, seconds)
        if best is None:
            return None
        key, rate, expected, seconds = best
        earned = hypervolume(front_now, situation.reference) / situation.elapsed if situation.elapsed > 0 else 0.0
        if rate < WORTH_SHARE * earned:
            return None
        return key, Choice("measure", f"on the predicted front: expected hypervolume gain {expected:.4g} "
                                      f"for about {seconds:.0f} s", {"gain": expected, "seconds": seconds})


class FrontPolicy(MeasurePolicy):
    name = "front"

    def __init__(self, spread_limit: float = 0.08, unknown_limit: float = 0.3):
        self.spread_limit, self.unknown_limit = spread_limit, unknown_limit

    def decide(self, key: str, s: Situation) -> Choice:
        point, guess = s.predicted[key], s.guesses[key]
        spread = max(guess.spread, s.error)
        hopeful = (point[0], point[1] * math.exp(-spread))
        numbers = {"predicted_ms": point[1], "spread": guess.spread, "error": s.error, "optimistic_ms": hopeful[1]}
        beaten = next((k for k, p in s.measured.items() if dominates(p, hopeful)), None)
        if beaten is not None:
            return Choice("skip", f"dominated by measured {beaten} even at {hopeful[1]:.3f} ms", numbers)
        ahead = next((k for k, p in s.predicted.items() if k != key and dominates(p, hopeful)), None)
        if ahead is not None:
            return Choice("defer", f"behind the prediction of {ahead}", numbers)
        expected = gain(hopeful, list(s.measured.values()), s.reference)
        unknown = 1.0 - float(guess.details.get("measured_share", 1.0))
        numbers.update(gain=expected, unknown_share=unknown)
        if guess.spread > self.spread_limit or unknown > self.unknown_limit:
            return Choice("measure", f"could change the front (gain up to {expected:.4g}) and is uncertain: spread "
                                     f"{guess.spread:.3f}, {100 * unknown:.0f}% of its time from untuned tasks",
                          numbers)
        return Choice("defer", f"predicted on the front (gain up to {expected:.4g}), confidently: spread "
                               f"{guess.spread:.3f}", numbers)


class MeasureAll(MeasurePolicy):
    name = "all"
    per_generation = 1 << 30
    search_share = 1.0

    def decide(self, key: str, s: Situation) -> Choice:
        return Choice("measure", "every trained candidate is measured")


POLICIES = {p.name: p for p in (FrontPolicy, MeasureAll)}


def create(name: str) -> MeasurePolicy:
    from ..errors import NacosError

    if name not in POLICIES:
        raise NacosError(f"unknown measurement policy '{name}'; policies: {', '.join(POLICIES)}")
    return POLICIES[name]()
