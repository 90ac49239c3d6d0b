"""Cheap estimates of a candidate's two objectives, made before anything is trained or tuned.

Latency (`LatencyEstimator`, `create_latency("flops" | "predicted")`):
- `flops`: FLOPs scaled by the median ms per FLOP of the candidates measured so far: the
  compiler-blind proxy of the two-stage way (it ranks the mbconv space with Spearman 0.93 on
  x86, but knows nothing of schedules);
- `predicted`: the board's latency model (`nacos.costmodel.latency_model`): a genotype's tasks
  from its cached network parts, the record store's measured best time where the store knows a
  task, the task model's otherwise, corrected by the network model; about 0.2 s, with a spread.
  Its median log error on what this search measured (shrunk toward 0) is taken out: a search
  walks into a corner of the space, e.g. networks below the data set's 0.14 ms, which the
  shipped model overestimated by 16-30 % in a first run.
Accuracy (`AccuracyScreen`): the ranking surrogate once a few candidates are trained; before
that the NASWOT proxy, calibrated to trained accuracies where it can be, ranked otherwise.

Every estimate is written to the study store with what it cost.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..accuracy.proxies import ProxyEstimator
from ..accuracy.surrogate import MIN_TRAINING_POINTS, RankingSurrogate
from ..errors import NacosError
from .store import Candidate, StudyStore

DEFAULT_MS_PER_FLOP = 1e-6  # before any candidate is measured: only the order matters then
BIAS_PRIOR = 2.0  # pseudo-measurements of zero error the predicted latency's bias starts from


@dataclass(frozen=True)
class Guess:
    """One cheap estimate: its value, a spread (accuracy points; log-latency std) and its source."""

    value: float
    spread: float
    estimator: str
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- latency


class LatencyEstimator(ABC):
    """Predicts a candidate's latency after tuning (ms) before it is tuned or measured."""

    name: str
    compiler_aware: bool

    def __init__(self, space, store: StudyStore):
        self.space, self.store = space, store

    @abstractmethod
    def guess(self, candidate: Candidate) -> Guess:
        ...

    def refit(self, measured_samples: list[dict]) -> dict | None:
        """Learn from what the search measured (default: nothing to learn)."""
        return None

    def store_changed(self) -> None:
        """The record store gained records (a tuning ran)."""

    def flops(self, candidate: Candidate) -> float:
        found = self.store.estimate(candidate, "latency", "flops")
        if found is not None:
            return found.value
        start = time.perf_counter()
        flops = float(self.space.describe(candidate.genotype).flops)
        self.store.add_estimate(candidate, "latency", "flops", flops, time.perf_counter() - start)
        return flops


class FlopsLatency(LatencyEstimator):
    name = "flops"
    compiler_aware = False

    def guess(self, candidate: Candidate) -> Guess:
        flops = self.flops(candidate)
        measured = self.store.values("latency", "measured")
        all_flops = self.store.values("latency", "flops")
        ratios = [e.value / all_flops[k].value for k, e in measured.items() if k in all_flops and all_flops[k].value > 0]
        scale = float(np.median(ratios)) if ratios else DEFAULT_MS_PER_FLOP
        spread = float(np.std(np.log(ratios))) if len(ratios) > 1 else 1.0
        return Guess(flops * scale, spread, self.name, {"flops": flops, "ms_per_flop": scale})


class PredictedLatency(LatencyEstimator):
    name = "predicted"
    compiler_aware = True

    def __init__(self, space, store: StudyStore, board, model, record_folders, trials_per_task: int):
        super().__init__(space, store)
        self.board, self.model, self.record_folders = board, model, record_folders
        self.trials_per_task = max(trials_per_task, 1)  # what the tasks it does not know will get
        self.task_cache = None  # opened on the first prediction
        self._best: dict[str, tuple[float, int]] | None = None
        self._version = 0  # the model's number in this search: 0 as loaded, +1 per refit
        self._made: dict[str, tuple] = {}  # key -> (model version, known task times, prediction, tasks, seconds)

    def best_times(self) -> dict[str, tuple[float, int]]:
        from ..records import best_times

        if self._best is None:
            self._best = best_times(self.record_folders)
        return self._best

    def store_changed(self) -> None:
        self._best = None

    def guess(self, candidate: Candidate) -> Guess:
        """The prediction, made again only when its inputs changed: the model (a refit) or the
        store's time of one of its tasks. The loop asks again for every trained candidate after
        each measurement (about 100 in a 15-minute search); its `seconds` are all the candidate's
        predictions cost, not the last one's (a re-prediction used to overwrite the first's
        lowering time, which hid 100-180 s per 15-minute search at b0b2bd0)."""
        start = time.perf_counter()
        made = self._made.get(candidate.key)
        if made is None:
            from ..spaces.task_cache import TaskCache

            if self.task_cache is None:
                self.task_cache = TaskCache(self.board)
            tasks = self.task_cache.tasks(self.space, candidate.genotype)
        else:
            tasks = made[3]
        best = self.best_times()
        known = {t.key: best[t.key][0] for t in tasks if t.key in best}
        if made is not None and made[0] == self.model_version() and made[1] == known:
            prediction, seconds = made[2], made[4]
        else:
            prediction = self.model.predict(self.space.describe(candidate.genotype), tasks, known,
                                            trials=self.trials_per_task)
            seconds = (made[4] if made else 0.0) + time.perf_counter() - start  # all it cost so far
        self._made[candidate.key] = (self.model_version(), known, prediction, tasks, seconds)
        bias, pairs = self.bias()
        value = prediction.latency_ms * math.exp(bias)
        details = {**prediction.to_json(), "model_ms": prediction.latency_ms, "bias": bias, "bias_from": pairs,
                   "tasks": len(tasks), "tasks_in_store": len(known), "model": self.model_version()}
        stored = self.store.estimate(candidate, "latency", "predicted")
        if stored is None or stored.value != value or stored.details != details:
            self.store.add_estimate(candidate, "latency", "predicted", value, seconds,
                                    uncertainty=prediction.spread, details=details)
        return Guess(value, prediction.spread, self.name, details)

    def model_version(self) -> int:
        return self._version

    def bias(self) -> tuple[float, int]:
        """The model's median log error on this search's own measurements (same model version),
        shrunk toward 0 by BIAS_PRIOR pseudo-measurements: networks of one search resemble each
        other more than the data set the model was fitted on, so its error on them is partly
        shared. The median, not the mean: one outlier (seed 43 at 8db5100: predicted 0.104 ms,
        measured 0.318) moved a mean of a dozen logs by 0.1 and every later prediction with it."""
        predicted, measured = self.store.values("latency", "predicted"), self.store.values("latency", "measured")
        logs = [math.log(measured[k].value / e.details["model_ms"]) for k, e in predicted.items()
                if k in measured and e.details.get("model") == self.model_version() and e.details.get("model_ms")]
        if not logs:
            return 0.0, 0
        return float(np.median(logs)) * len(logs) / (len(logs) + BIAS_PRIOR), len(logs)

    def refit(self, measured_samples: list[dict]) -> dict | None:
        """Refit on the board's data set plus what this search measured (kept in memory: the
        model on disk is not touched). A fit that cannot be made keeps the old model."""
        from ..costmodel.latency_dataset import read_samples
        from ..costmodel.latency_model import fit_latency_model

        if not measured_samples:
            return None
        ours = {s["key"] for s in measured_samples}
        shipped = []  # the board's data set, the user's layer before the shipped one
        for folder in self.record_folders:
            data = folder / f"latency_{self.space.name}.jsonl"
            for sample in read_samples(data) if data.exists() else []:
                if sample["key"] not in ours:
                    ours.add(sample["key"])
                    shipped.append(sample)
        start = time.perf_counter()
        try:
            self.model = fit_latency_model(shipped + measured_samples, self.record_folders, self.board)
            self._version += 1  # the bias is learnt afresh against the new model
        except NacosError as exc:
            return {"refit": False, "why": str(exc)}
        return {"refit": True, "networks": len(shipped) + len(measured_samples), "from_search": len(measured_samples),
                "seconds": time.perf_counter() - start}


LATENCY_ESTIMATORS = {c.name: c for c in (FlopsLatency, PredictedLatency)}


def create_latency(name: str, space, store: StudyStore, board=None, record_folders=None,
                   trials_per_task: int = 8) -> LatencyEstimator:
    """`flops`, or `predicted` with the board's saved latency model (NacosError if it has none)."""
    if name == "flops":
        return FlopsLatency(space, store)
    if name == "predicted":
        from ..costmodel.latency_model import LatencyModel

        return PredictedLatency(space, store, board, LatencyModel.load(record_folders), record_folders,
                                trials_per_task)
    raise NacosError(f"unknown latency estimator '{name}'; estimators: {', '.join(LATENCY_ESTIMATORS)}")


# ---------------------------------------------------------------------- accuracy


class AccuracyScreen:
    """Accuracy before training: the ranking surrogate when it can be fitted, the proxy before."""

    def __init__(self, space, dataset, store: StudyStore, reference_accuracy: float, proxy: str = "naswot"):
        self.space, self.store, self.floor = space, store, reference_accuracy
        self.proxy = ProxyEstimator(proxy, space, dataset)
        self.surrogate: RankingSurrogate | None = None
        self.spread = 0.05

    def refit(self, trained: dict[str, tuple[object, float]]) -> None:
        """`trained`: key -> (genotype, short-training accuracy)."""
        if len(trained) < MIN_TRAINING_POINTS:
            return
        genotypes = [g for g, _ in trained.values()]
        accuracies = np.asarray([a for _, a in trained.values()])
        self.surrogate = RankingSurrogate(self.space).fit(genotypes, accuracies)
        fitted = self.surrogate.predict(genotypes)
        # in-sample residuals understate the error: never below one accuracy point
        self.spread = max(0.01, float(np.sqrt(np.mean((fitted - accuracies) ** 2))))

    def proxy_score(self, candidate: Candidate) -> float:
        found = self.store.estimate(candidate, "accuracy", self.proxy.name)
        if found is not None:
            return found.value
        e = self.proxy.estimate(candidate.genotype)
        self.store.add_estimate(candidate, "accuracy", self.proxy.name, e.value, e.seconds)
        return e.value

    def guess(self, candidate: Candidate) -> Guess:
        if self.surrogate is not None:
            e = self.surrogate.estimate(candidate.genotype)
            self.store.add_estimate(candidate, "accuracy", "surrogate", e.value, e.seconds, uncertainty=self.spread,
                                    details={"trained_on": self.surrogate.trained_on})
            return Guess(e.value, self.spread, "surrogate")
        return self._from_proxy(candidate)

    def _from_proxy(self, candidate: Candidate) -> Guess:
        """The proxy score as an accuracy: a line through the trained candidates' (score,
        accuracy) when two or more have both, else the score's rank among all scored candidates
        spread over [reference accuracy, 1]: enough to order children, which is all it is for."""
        score = self.proxy_score(candidate)
        scores = self.store.values("accuracy", self.proxy.name)
        trained = self.store.values("accuracy", "train")
        pairs = [(scores[k].value, trained[k].value) for k in trained if k in scores]
        if len(pairs) >= 2 and np.ptp([s for s, _ in pairs]) > 0:
            slope, intercept = np.polyfit([s for s, _ in pairs], [a for _, a in pairs], 1)
            value = float(np.clip(slope * score + intercept, 0.0, 1.0))
            return Guess(value, 0.05, self.proxy.name, {"score": score, "calibrated_on": len(pairs)})
        rank = float(np.mean([s.value <= score for s in scores.values()])) if scores else 0.5
        value = self.floor + (1.0 - self.floor) * rank
        return Guess(value, 0.1, self.proxy.name, {"score": score, "rank": rank})


def optimistic(point: tuple[float, float], accuracy_spread: float, latency_spread: float) -> tuple[float, float]:
    """The point one spread better in both objectives (an upper confidence bound)."""
    return point[0] + accuracy_spread, point[1] * math.exp(-latency_spread)
