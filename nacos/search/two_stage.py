"""The two-stage baseline: design the network first, compile it afterwards.

Stage one is the same evolution as the co-search (same strategy, training recipe, seeds and
generation 0) with FLOPs as a compiler-blind latency, nothing tuned, for `blind_share` of the
budget. Stage two tunes and measures stage one's front (by FLOPs), fastest first, with the rest
of the same wall-clock budget, from the same record store. Its front that counts is the
measured one, as for the co-search.
"""

from __future__ import annotations

from .loop import Search
from .pareto import pareto_front


class TwoStageSearch(Search):
    mode = "two-stage"
    latency_estimator = "flops"

    def search_goes_on(self) -> bool:
        return self.elapsed() < self.config.blind_share * self.config.budget_seconds

    def finish(self) -> None:
        """Stage two: the blind front, fastest by FLOPs first, tuned and measured as time allows."""
        flops = self.store.values("latency", "flops")  # FLOPs alone: the same front when resumed mid-way
        points = {k: (e.value, flops[k].value) for k, e in self.store.values("accuracy", "train").items()
                  if k in flops}
        keys = list(points)
        front = sorted((keys[i] for i in pareto_front([points[k] for k in keys])), key=lambda k: points[k][1])
        for key in front:
            if self.left() <= 0:
                break
            candidate = self.store.candidate(key)
            if self.measurement.done(candidate) or self.store.tuning(candidate) is not None:
                continue
            self.store.add_decision(candidate, "final", "measure", f"on the compiler-blind front ({points[key][1]:.4g} "
                                    f"FLOPs), fewest FLOPs first", {"flops": points[key][1]})
            self.measurement.measure(candidate)
            self.tick()
