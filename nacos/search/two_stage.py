"""The two-stage baseline: design the network first, compile it afterwards.

Stage one is the same evolution as the co-search (same strategy, training recipe, seeds and
generation 0) with FLOPs as a compiler-blind latency, nothing tuned, for `blind_share` of the
budget. Stage two tunes and measures stage one's front (by FLOPs), fastest first, with the rest
of the same wall-clock budget, from the same record store; time left after that goes to the
next fronts by FLOPs (in the 15-minute benchmark with a user store over the shipped one, seed 21
measured its front of 3 in 150 s and stopped at 615 s of its 900). Its front that counts is the
measured one, as for the co-search.
"""

from __future__ import annotations

import numpy as np

from .loop import Search
from .pareto import non_dominated_sort


class TwoStageSearch(Search):
    mode = "two-stage"
    latency_estimator = "flops"

    def search_goes_on(self) -> bool:
        return self.elapsed() < self.training_horizon()

    def training_horizon(self) -> float:
        """Its generations end with the blind share (so training cost cools to nothing by then)."""
        return self.config.blind_share * self.config.budget_seconds

    def finish(self) -> None:
        """Stage two: the blind fronts in turn, fewest FLOPs first in each, tuned and measured as
        time allows."""
        flops = self.store.values("latency", "flops")  # FLOPs alone: the same order when resumed mid-way
        points = {k: (e.value, flops[k].value) for k, e in self.store.values("accuracy", "train").items()
                  if k in flops}
        keys = list(points)
        for number, layer in enumerate(non_dominated_sort([points[k] for k in keys])):
            for key in sorted((keys[i] for i in layer), key=lambda k: points[k][1]):
                if self.left() <= 0:
                    return
                candidate = self.store.candidate(key)
                if self.measurement.done(candidate) or self.store.tuning(candidate) is not None:
                    continue
                expected = self.expected_measuring_seconds()
                if not self.fits(expected):
                    self.store.add_decision(candidate, "final", "skip", f"a measurement takes about {expected:.0f} s "
                                            f"here and {max(self.left(), 0):.0f} s are left", {"seconds": expected})
                    return
                where = "on the compiler-blind front" if number == 0 else f"on compiler-blind front {number + 1}"
                self.store.add_decision(candidate, "final", "measure", f"{where} ({points[key][1]:.4g} FLOPs), "
                                        f"fewest FLOPs first", {"flops": points[key][1], "front": number})
                self.measurement.measure(candidate)
                self.tick()

    def expected_measuring_seconds(self) -> float:
        """The median seconds of this search's measurements so far (0 before the first)."""
        done = self.store.tunings()
        return float(np.median([d["seconds"] for d in done])) if done else 0.0
