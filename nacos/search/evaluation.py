"""What a search asks of a candidate, cheap to costly, each answer written to the study store.

- screening (milliseconds to a second): accuracy from the NASWOT proxy and, once enough
  candidates are trained, the ranking surrogate; latency from the board's latency model (when
  fitted) or from FLOPs scaled by the measured candidates (the compiler-blind proxy);
- training: the short-training recipe's validation accuracy;
- tuning: the candidate's new tasks tuned into the shared record store, then the network built
  with every record, checked against PyTorch and timed (`pipeline.tune_network`); its run folder
  under `candidates/KEY` is what `nacos export --pick` exports.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..accuracy.proxies import ProxyEstimator
from ..accuracy.surrogate import MIN_TRAINING_POINTS, RankingSurrogate
from ..accuracy.training import Recipe, ShortTraining
from .store import Candidate, StudyStore


@dataclass(frozen=True)
class Screen:
    accuracy: float
    accuracy_spread: float
    latency_ms: float
    latency_spread: float  # std of log-latency
    estimators: tuple[str, str]


class Evaluator:
    def __init__(self, space, board, dataset, store: StudyStore, out: Path, recipe: Recipe, trials_per_task: int,
                 schedules: Path | None = None, rpc=None, latency_model=None, progress: bool = True):
        self.space, self.board, self.dataset, self.store, self.out = space, board, dataset, store, out
        self.recipe, self.trials_per_task, self.schedules, self.rpc = recipe, trials_per_task, schedules, rpc
        self.latency_model = latency_model
        self.progress = progress
        self.task_cache = None  # built on the first prediction
        self.best: dict[str, tuple[float, int]] | None = None  # the record store's best times, by task key
        self.naswot = ProxyEstimator("naswot", space, dataset)
        self.trainer = ShortTraining(space, dataset, recipe, progress=progress)
        self.surrogate: RankingSurrogate | None = None

    # ------------------------------------------------------------------ cheap

    def flops(self, candidate: Candidate) -> float:
        found = self.store.estimate(candidate, "latency", "flops")
        if found is None:
            start = time.perf_counter()
            flops = self.space.describe(candidate.genotype).flops
            self.store.add_estimate(candidate, "latency", "flops", flops, time.perf_counter() - start)
            return float(flops)
        return found.value

    def refit_surrogate(self, trained: list[tuple[Candidate, float]]) -> None:
        if len(trained) >= MIN_TRAINING_POINTS:
            self.surrogate = RankingSurrogate(self.space).fit([c.genotype for c, _ in trained], [a for _, a in trained])

    def screen(self, candidate: Candidate, measured: list[tuple[Candidate, float]], blind: bool) -> Screen:
        """Cheap estimates of both objectives; `blind` uses FLOPs for latency (the two-stage way)."""
        accuracy_estimate = self.store.estimate(candidate, "accuracy", "naswot")
        if accuracy_estimate is None:
            e = self.naswot.estimate(candidate.genotype)
            self.store.add_estimate(candidate, "accuracy", "naswot", e.value, e.seconds)
        if self.surrogate is not None:
            e = self.surrogate.estimate(candidate.genotype)
            self.store.add_estimate(candidate, "accuracy", "surrogate", e.value, e.seconds,
                                    details={"trained_on": self.surrogate.trained_on})
            accuracy, accuracy_spread, accuracy_by = e.value, 0.02, "surrogate"
        else:  # no trained candidates yet: the proxy only ranks, so every candidate looks alike
            accuracy, accuracy_spread, accuracy_by = 0.0, 1.0, "naswot"
        if blind or self.latency_model is None:
            latency, spread = self.flops_latency(candidate, measured)
            latency_by = "flops"
        else:
            latency, spread = self._predicted_latency(candidate)
            latency_by = "predicted"
        return Screen(accuracy, accuracy_spread, latency, spread, (accuracy_by, latency_by))

    def flops_latency(self, candidate: Candidate, measured: list[tuple[Candidate, float]]) -> tuple[float, float]:
        """FLOPs scaled by the median ms-per-FLOP of the measured candidates (1 ms per MFLOP before any)."""
        flops = self.flops(candidate)
        ratios = [ms / self.flops(c) for c, ms in measured if self.flops(c) > 0]
        scale = float(np.median(ratios)) if ratios else 1e-6
        spread = float(np.std(np.log(ratios))) if len(ratios) > 1 else 1.0
        return flops * scale, spread

    def records_folder(self) -> Path:
        from ..records import store_folder

        return store_folder(self.board.name, self.schedules)

    def best_times(self) -> dict[str, tuple[float, int]]:
        """The record store's best time per task, re-read after each tuning."""
        from ..records import best_times

        if self.best is None:
            self.best = best_times(self.records_folder())
        return self.best

    def _predicted_latency(self, candidate: Candidate) -> tuple[float, float]:
        from ..spaces.task_cache import TaskCache

        start = time.perf_counter()
        if self.task_cache is None:
            self.task_cache = TaskCache(self.board)
        prediction, tasks, known = self.latency_model.predict_genotype(self.space, candidate.genotype,
                                                                       self.task_cache, self.best_times())
        self.store.add_estimate(candidate, "latency", "predicted", prediction.latency_ms, time.perf_counter() - start,
                                uncertainty=prediction.spread,
                                details={**prediction.to_json(), "tasks": len(tasks), "tasks_in_store": len(known)})
        return prediction.latency_ms, prediction.spread

    def refit_latency_model(self, measured_samples: list[dict]) -> dict | None:
        """Refit the latency model on the board's data set plus what this search measured.

        Kept in memory for this search (the shipped model on disk is not touched). A fit that
        cannot be made (too few networks, tasks missing from the store) keeps the old model.
        """
        from ..costmodel.latency_dataset import read_samples
        from ..costmodel.latency_model import fit_latency_model
        from ..errors import NacosError

        if self.latency_model is None or not measured_samples:
            return None
        data = self.records_folder() / f"latency_{self.space.name}.jsonl"
        ours = {s["key"] for s in measured_samples}
        shipped = [s for s in read_samples(data) if s["key"] not in ours] if data.exists() else []
        start = time.perf_counter()
        try:
            self.latency_model = fit_latency_model(shipped + measured_samples, self.records_folder(), self.board)
        except NacosError as exc:
            return {"refit": False, "why": str(exc)}
        return {"refit": True, "networks": len(shipped) + len(measured_samples), "from_search": len(measured_samples),
                "seconds": time.perf_counter() - start}

    # ------------------------------------------------------------------ costly

    def train(self, candidate: Candidate) -> float:
        found = self.store.estimate(candidate, "accuracy", "train")
        if found is not None:
            return found.value
        e = self.trainer.estimate(candidate.genotype)
        self.store.add_estimate(candidate, "accuracy", "train", e.value, e.seconds, details=e.details)
        return e.value

    def tune_and_measure(self, candidate: Candidate) -> float | None:
        """Measured latency after tuning the candidate's new tasks; None if the build was wrong."""
        found = self.store.estimate(candidate, "latency", "measured")
        if found is not None:
            return found.value
        from ..pipeline import tune_network
        from ..spaces.lowering import lower
        from ..tasks import extract_tasks

        start = time.perf_counter()
        network = lower(self.space, candidate.genotype)
        tasks = extract_tasks(network.mod, self.board.target())
        best = self.best_times()
        known = sum(t.key in best for t in tasks)
        summary = tune_network(network, self.board, self.out / "candidates" / candidate.key,
                               (len(tasks) - known) * self.trials_per_task, schedules=self.schedules, rpc=self.rpc,
                               repeat=30, progress=self.progress)
        self.best = None  # the tuning added records
        seconds = time.perf_counter() - start
        self.store.add_tuning(candidate, tasks=len(tasks), tasks_from_store=known,
                              trials=summary["trials_spent"] - summary["trials_resumed"], seconds=seconds)
        if not summary["latency"]:
            return None
        latency = summary["latency"]["median_ms"]
        self.store.add_estimate(candidate, "latency", "measured", latency, seconds,
                                details={"min_ms": summary["latency"]["min_ms"], "check": summary["check"],
                                         "tasks": [{"key": t["key"], "weight": t["weight"], "name": t["name"]}
                                                   for t in summary["task_details"]]})
        return latency


def optimistic_improvement(screen: Screen, front: list[tuple[float, float]], reference: tuple[float, float],
                           hypervolume) -> float:
    """Hypervolume gained if the candidate lands one spread better than its estimate (UCB-style)."""
    point = (screen.accuracy + screen.accuracy_spread, screen.latency_ms * math.exp(-screen.latency_spread))
    return hypervolume(front + [point], reference) - hypervolume(front, reference)
