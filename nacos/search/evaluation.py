"""The costly fidelities of a candidate, each result written to the study store as it lands.

- `Training`: the short-training recipe's validation accuracy (1 epoch on 4,000 Fashion-MNIST
  images on 2 cores: 3-5 s for an mbconv network of under 1 MFLOPs, 25-35 s at 10 MFLOPs);
- `Measurement`: the candidate's new tasks tuned into the shared record store, the network
  built with every record, checked against PyTorch and timed (`pipeline.tune_network`); its
  run folder under `candidates/KEY` is what `nacos export --pick` exports. 10-20 s when the
  store knows every task, plus about 0.6 s per tuning trial.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..accuracy.training import Recipe, ShortTraining
from .store import Candidate, StudyStore

BUILD_SECONDS = 20.0  # a measurement's fixed part before this search has measured anything
TRIAL_SECONDS = 0.7  # and the cost of one tuning trial
DECODE_SECONDS_PER_MB = 0.8  # TVM decoding a record store, once per process


COST_EXPONENT = (0.5, 1.0)  # training seconds grow with FLOPs at least as their root, at most in proportion
PRIOR_EXPONENT = 0.75  # the exponent before the search's own trainings spread enough over FLOPs


def training_cost_exponent(pairs: list[tuple[float, float]]) -> float:
    """How training seconds grow with FLOPs: the slope of log seconds over log FLOPs through the
    search's own trainings, held to COST_EXPONENT; PRIOR_EXPONENT while fewer than three, or all
    within a factor of two in FLOPs (a slope through such points is noise: it once came out
    negative, and a flat cost sent a search to train 4-5 MFLOPs networks first)."""
    logs = [(math.log(f), math.log(s)) for f, s in pairs if f > 0 and s > 0]
    if len(logs) < 3 or np.ptp([lf for lf, _ in logs]) < math.log(2):
        return PRIOR_EXPONENT
    slope = float(np.polyfit([lf for lf, _ in logs], [ls for _, ls in logs], 1)[0])
    return min(max(slope, COST_EXPONENT[0]), COST_EXPONENT[1])


def training_pairs(store: StudyStore) -> list[tuple[float, float]]:
    """(FLOPs, training seconds) of every candidate trained so far."""
    trained = store.values("accuracy", "train")
    known = store.values("latency", "flops")
    return [(known[k].value, e.seconds) for k, e in trained.items() if k in known]


def expected_training_seconds_of(store: StudyStore, flops: dict[str, float]) -> dict[str, float | None]:
    """key -> what training a network of its FLOPs should cost: a power of FLOPs
    (training_cost_exponent) scaled to the search's own trainings, fitted once for all; None
    before the first training."""
    pairs = [(f, s) for f, s in training_pairs(store) if f > 0 and s > 0]
    if not pairs:
        return {key: None for key in flops}
    exponent = training_cost_exponent(pairs)
    scale = float(np.median([math.log(s) - exponent * math.log(f) for f, s in pairs]))
    return {key: math.exp(scale) * f ** exponent if f > 0 else None for key, f in flops.items()}


def expected_training_seconds(store: StudyStore, flops: float) -> float | None:
    """What training one network of `flops` should cost (expected_training_seconds_of)."""
    return expected_training_seconds_of(store, {"": flops})[""]


def relative_costs(seconds: dict[str, float | None], flops: dict[str, float]) -> dict[str, float]:
    """key -> its expected training seconds or, while they are not known, a number in proportion to
    them: the order of gain per second needs no absolute cost."""
    return {key: s if s is not None else max(flops[key], 1.0) ** PRIOR_EXPONENT for key, s in seconds.items()}


def relative_training_costs(store: StudyStore, flops: dict[str, float]) -> dict[str, float]:
    """key -> what `training_order` weighs its gain by (relative_costs of the expected seconds)."""
    return relative_costs(expected_training_seconds_of(store, flops), flops)


class Training:
    def __init__(self, space, dataset, store: StudyStore, recipe: Recipe, progress: bool = True):
        self.store = store
        self.trainer = ShortTraining(space, dataset, recipe, progress=progress)

    def done(self, candidate: Candidate) -> bool:
        return self.store.estimate(candidate, "accuracy", "train") is not None

    def expected_seconds_of(self, flops: dict[str, float]) -> dict[str, float | None]:
        return expected_training_seconds_of(self.store, flops)

    def costs(self, flops: dict[str, float]) -> dict[str, float]:
        """What `training_order` weighs gains by (relative_training_costs)."""
        return relative_training_costs(self.store, flops)

    def train(self, candidate: Candidate) -> float:
        found = self.store.estimate(candidate, "accuracy", "train")
        if found is not None:
            return found.value
        e = self.trainer.estimate(candidate.genotype)
        self.store.add_estimate(candidate, "accuracy", "train", e.value, e.seconds, details=e.details)
        return e.value


class Measurement:
    def __init__(self, space, board, store: StudyStore, out: Path, trials_per_task: int,
                 schedules: Path | None = None, rpc=None, progress: bool = True, on_store_change=None):
        self.space, self.board, self.store, self.out = space, board, store, out
        self.trials_per_task, self.schedules, self.rpc, self.progress = trials_per_task, schedules, rpc, progress
        self.on_store_change = on_store_change or (lambda: None)

    def done(self, candidate: Candidate) -> bool:
        return self.store.estimate(candidate, "latency", "measured") is not None

    def expected_seconds(self, new_tasks: int) -> float:
        """What measuring a candidate with `new_tasks` unknown tasks should cost, from this
        search's own measurements (a line over trials) once it has a few, defaults before."""
        done = self.store.tunings()
        build, per_trial = BUILD_SECONDS, TRIAL_SECONDS
        if len(done) >= 3 and np.ptp([d["trials"] for d in done]) > 0:
            per_trial, build = np.polyfit([d["trials"] for d in done], [d["seconds"] for d in done], 1)
            build, per_trial = max(float(build), 1.0), max(float(per_trial), 0.05)
        elif done:
            build = float(np.median([d["seconds"] - per_trial * d["trials"] for d in done]))
            build = max(build, 1.0)
        return build + per_trial * new_tasks * self.trials_per_task + self.decode_seconds()

    def decode_seconds(self) -> float:
        """The first build of a process decodes the record store (about 40-80 s for the shipped 68 MB as one store)."""
        from ..records import RECORD_FILE, WORKLOAD_FILE, RecordStore, store_folders

        if RecordStore.decoded(self.board.name, self.schedules):
            return 0.0
        folders = store_folders(self.board.name, self.schedules)  # lower layers: workloads, best records only
        size = sum((folder / f).stat().st_size for n, folder in enumerate(folders)
                   for f in ((RECORD_FILE, WORKLOAD_FILE) if n == 0 else (WORKLOAD_FILE,)) if (folder / f).exists())
        return DECODE_SECONDS_PER_MB * size / 1e6

    def measure(self, candidate: Candidate) -> float | None:
        """Measured latency after tuning the candidate's new tasks; None if the build was wrong."""
        found = self.store.estimate(candidate, "latency", "measured")
        if found is not None:
            return found.value
        from ..pipeline import tune_network
        from ..records import best_times, store_folders
        from ..spaces.lowering import lower
        from ..tasks import extract_tasks

        start = time.perf_counter()
        network = lower(self.space, candidate.genotype)
        tasks = extract_tasks(network.mod, self.board.target(), prepack=self.board.weight_prepack)
        best = best_times(store_folders(self.board.name, self.schedules))
        known = sum(t.key in best for t in tasks)
        try:
            summary = tune_network(network, self.board, self.out / "candidates" / candidate.key,
                                   (len(tasks) - known) * self.trials_per_task, schedules=self.schedules,
                                   rpc=self.rpc, repeat=30, progress=self.progress, tasks=tasks)
        finally:
            self.on_store_change()  # the tuning added records, even if it stopped half-way
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
