"""The search loops: one-stage co-search, and the two-stage baseline it is compared with.

One-stage, per generation: propose children (mutation, crossover) → screen them cheaply (proxy or
surrogate accuracy; the latency model's schedule-aware prediction, or FLOPs before it is fitted)
→ pick the few with the largest optimistic hypervolume gain → tune their new tasks into the shared
record store and measure them → train them briefly → refit the surrogate → keep the population
(NSGA-II by default). Two-stage: the same evolution with FLOPs as a compiler-blind latency and
no tuning for the first part of the budget, then its final front tuned and measured with the
rest. Both count the same wall-clock budget, spent in this study (over resumed runs as well).

Everything lands in the study store as it finishes, so `--resume` continues where a killed run
stopped: candidates already trained or measured are not evaluated again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import NacosError
from .evaluation import Evaluator, optimistic_improvement
from .pareto import hypervolume, pareto_front
from .store import Candidate, StudyStore
from .strategy import get_strategy

STUDY_FILE = "study.db"
MODES = ("one-stage", "two-stage")


@dataclass(frozen=True)
class SearchConfig:
    space: str = "mbconv"
    target: str = "x86"
    dataset: str = "fashion-mnist"
    mode: str = "one-stage"
    budget_seconds: float = 45 * 60
    seed: int = 0
    strategy: str = "nsga2"
    population: int = 4
    children: int = 8  # screened per generation
    evaluate_per_generation: int = 2  # of those, tuned and trained
    trials_per_task: int = 8
    train_epochs: float = 1.0
    train_images: int = 4000
    blind_share: float = 0.5  # two-stage: share of the budget for the compiler-blind NAS
    reference: tuple[float, float] = (0.5, 20.0)  # hypervolume reference: accuracy, latency ms
    max_params: float | None = None  # constraints, checked on the static description before anything runs
    max_flops: float | None = None
    max_peak_memory: float | None = None  # bytes of activations alive at once

    def check(self) -> SearchConfig:
        if self.mode not in MODES:
            raise NacosError(f"unknown search mode '{self.mode}'; modes: {', '.join(MODES)}")
        if self.budget_seconds <= 0:
            raise NacosError(f"the budget must be positive (got {self.budget_seconds} s)")
        if self.population < 2 or self.evaluate_per_generation < 1 or self.children < self.evaluate_per_generation:
            raise NacosError("give --population 2 or more and --children at least --evaluate (1 or more)")
        get_strategy(self.strategy)
        for name in ("max_params", "max_flops", "max_peak_memory"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise NacosError(f"--{name.replace('_', '-')} must be positive (got {getattr(self, name)})")
        return self

    def violation(self, description) -> str | None:
        """Which constraint the described network breaks, or None."""
        for limit, value, what in ((self.max_params, description.params, "parameters"),
                                   (self.max_flops, description.flops, "FLOPs"),
                                   (self.max_peak_memory, description.peak_activation_bytes, "peak memory bytes")):
            if limit is not None and value > limit:
                return f"{what} {value:.4g} > {limit:.4g}"
        return None


def parse_budget(text: str) -> float:
    """'45m', '1h', '90s' or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = -1
    if value <= 0:
        raise NacosError(f"bad --budget '{text}': give a duration like 45m, 1h or 600s")
    return value


class Search:
    def __init__(self, config: SearchConfig, out: Path, resume: bool = False, schedules: Path | None = None,
                 rpc=None, progress: bool = True):
        from ..board import load_board
        from ..datasets import load_dataset
        from ..spaces import get_space
        from ..accuracy.training import Recipe

        self.config = config.check()
        self.out = Path(out)
        path = self.out / STUDY_FILE
        if path.exists() and not resume:
            raise NacosError(f"'{self.out}' already holds a search; add --resume to continue it or give a new --out")
        if resume and not path.exists():
            raise NacosError(f"nothing to resume in '{self.out}' (no {STUDY_FILE})")
        self.board = load_board(config.target)
        self.space = get_space(config.space)
        dataset = load_dataset(config.dataset)  # before the store: a missing data set leaves no folder
        self.store = StudyStore(path)
        settings = {"config": _jsonable(asdict(config))}
        if resume and self.store.setting("config") != settings["config"]:
            raise NacosError(f"'{self.out}' was started with other settings; resume with the same options")
        if not resume:
            self.store.set_settings(settings)
        self.strategy = get_strategy(config.strategy)
        self.rng = np.random.default_rng(config.seed + len(self.store.candidates()))
        latency_model = None if config.mode == "two-stage" else _latency_model(self.board, schedules)
        recipe = Recipe(epochs=config.train_epochs, train_images=config.train_images, seed=config.seed)
        self.evaluator = Evaluator(self.space, self.board, dataset, self.store, self.out, recipe,
                                   config.trials_per_task, schedules=schedules, rpc=rpc, latency_model=latency_model,
                                   progress=progress)
        self.progress = progress
        self.rejected = 0  # genotypes dropped by the constraints, in this process
        self.refitted_on = 0  # measured candidates the latency model was last refitted with
        self.bar = None
        self.started = time.perf_counter()
        self.spent_before = float(self.store.setting("elapsed", 0.0))

    # ------------------------------------------------------------------ bookkeeping

    def elapsed(self) -> float:
        return self.spent_before + time.perf_counter() - self.started

    def left(self) -> float:
        return self.config.budget_seconds - self.elapsed()

    def points(self, measured_only: bool = True) -> dict[str, tuple[float, float]]:
        """key -> (trained accuracy, latency ms): measured latency, or FLOPs-scaled when blind."""
        found = {}
        measured = None if measured_only else self.measured()
        for c in self.store.candidates():
            accuracy = self.store.estimate(c, "accuracy", "train")
            latency = self.store.estimate(c, "latency", "measured")
            if accuracy is not None and latency is not None:
                found[c.key] = (accuracy.value, latency.value)
            elif accuracy is not None and not measured_only:
                found[c.key] = (accuracy.value, self.evaluator.flops_latency(c, measured)[0])
        return found

    def measured(self) -> list[tuple[Candidate, float]]:
        pairs = []
        for c in self.store.candidates():
            e = self.store.estimate(c, "latency", "measured")
            if e is not None:
                pairs.append((c, e.value))
        return pairs

    def measured_samples(self) -> list[dict]:
        """The search's measured candidates in the latency data set's form (for refitting)."""
        samples = []
        for c in self.store.candidates():
            e = self.store.estimate(c, "latency", "measured")
            if e is not None and e.details and e.details.get("tasks"):
                samples.append({"space": self.space.name, "genotype": c.genotype.to_dict(), "key": c.key,
                                "target": self.board.name, "latency_ms": e.value, "tasks": e.details["tasks"]})
        return samples

    def refit_latency_model(self) -> None:
        """Refit the latency model when this search measured something new since the last fit."""
        samples = self.measured_samples()
        if len(samples) == self.refitted_on:
            return
        info = self.evaluator.refit_latency_model(samples)
        self.refitted_on = len(samples)
        if info is not None:
            self.store.set_settings({"latency_model": info})

    def trained(self) -> list[tuple[Candidate, float]]:
        return [(c, e.value) for c in self.store.candidates()
                if (e := self.store.estimate(c, "accuracy", "train")) is not None]

    def close(self, number: int, population: list[str], blind: bool) -> dict:
        points = self.points(measured_only=not blind)
        keys = list(points)
        front = [keys[i] for i in pareto_front([points[k] for k in keys])]
        hv = hypervolume([points[k] for k in front], self.config.reference)
        self.store.close_generation(number, front, hv, self.config.reference, population, self.elapsed(),
                                    self.store.trials_spent())
        self.store.set_settings({"elapsed": self.elapsed()})
        return {"front": len(front), "hv": hv}

    # ------------------------------------------------------------------ the loop

    def evaluated(self, candidate: Candidate, blind: bool) -> bool:
        trained = self.store.estimate(candidate, "accuracy", "train") is not None
        return trained and (blind or self.store.estimate(candidate, "latency", "measured") is not None)

    def evaluate(self, candidate: Candidate, tune: bool) -> None:
        if tune:
            self.evaluator.tune_and_measure(candidate)
        self.evaluator.train(candidate)
        self.store.set_settings({"elapsed": self.elapsed()})  # a killed run's time still counts
        if self.bar is not None:
            self.bar.n = min(round(self.elapsed()), round(self.config.budget_seconds))
            self.bar.refresh()

    def feasible(self, genotype) -> bool:
        """Within the parameter / FLOPs / peak-memory limits (counted as rejected otherwise)."""
        if self.config.violation(self.space.describe(genotype)) is None:
            return True
        self.rejected += 1
        return False

    def propose(self, population: list[str], points, number: int) -> list[Candidate]:
        children: list[Candidate] = []
        by_key = {c.key: c for c in self.store.candidates()}
        for _ in range(50 * self.config.children):
            if len(children) == self.config.children:
                break
            parents: tuple[str, ...] = ()
            if not self.strategy.uses_parents or len(population) < 2:
                genotype, origin = self.space.sample(self.rng), "sample"
            elif self.rng.random() < 0.5:
                parent = self.strategy.parent(population, points, self.rng)
                genotype, origin, parents = self.space.mutate(by_key[parent].genotype, self.rng), "mutation", (parent,)
            else:
                a = self.strategy.parent(population, points, self.rng)
                b = self.strategy.parent(population, points, self.rng)
                if a == b:
                    continue
                genotype = self.space.crossover(by_key[a].genotype, by_key[b].genotype, self.rng)
                origin, parents = "crossover", (a, b)
            if genotype.key() in by_key or any(c.key == genotype.key() for c in children):
                continue
            if not self.feasible(genotype):
                continue
            children.append(self.store.add_candidate(genotype, number, origin, parents))
        return children

    def run(self) -> dict:
        cfg = self.config
        blind_until = cfg.budget_seconds * cfg.blind_share if cfg.mode == "two-stage" else 0.0
        last = self.store.last_generation()
        number = last["number"] + 1 if last else 0
        population = last["population"] if last else []
        self.bar = bar = tqdm(total=round(cfg.budget_seconds),
                              initial=min(round(self.elapsed()), round(cfg.budget_seconds)),
                              desc=f"{cfg.mode} search", unit="s", disable=not self.progress, dynamic_ncols=True)
        try:
            if not population:  # generation 0: random candidates, each evaluated fully
                population = [c.key for c in self.store.candidates() if c.generation == 0 and c.selected]
                for _ in range(50 * cfg.population):
                    if len(population) == cfg.population:
                        break
                    g = self.space.sample(self.rng)
                    if self.store.candidate(g.key()) is None and self.feasible(g):
                        population.append(self.store.select(self.store.add_candidate(g, 0, "sample")).key)
            stop_at = blind_until if cfg.mode == "two-stage" else cfg.budget_seconds
            blind = cfg.mode == "two-stage"
            while self.elapsed() < stop_at:
                for c in self.store.candidates():  # finish what was selected (and what a killed run left)
                    if self.elapsed() >= stop_at:
                        break
                    if c.selected and not self.evaluated(c, blind):
                        self.evaluate(c, tune=not blind)
                points = self.points(measured_only=not blind)
                if self.elapsed() >= stop_at:
                    break
                self.evaluator.refit_surrogate(self.trained())
                if not blind:
                    self.refit_latency_model()
                children = self.propose([k for k in population if k in points], points, number + 1)
                front = [list(points.values())[i] for i in pareto_front(list(points.values()))]
                measured = self.measured()
                screens = {c.key: self.evaluator.screen(c, measured, blind) for c in children}
                ranked = sorted(children, key=lambda c: -optimistic_improvement(screens[c.key], front, cfg.reference,
                                                                                   hypervolume))
                for c in ranked[:cfg.evaluate_per_generation]:
                    if self.elapsed() >= stop_at:
                        break
                    self.evaluate(self.store.select(c), tune=not blind)
                number += 1
                points = self.points(measured_only=not blind)
                ages = {c.key: c.id for c in self.store.candidates() if c.key in points}
                population = self.strategy.survivors(points, ages, cfg.population)
                info = self.close(number, population, blind)
                bar.n = min(round(self.elapsed()), round(cfg.budget_seconds))
                bar.set_postfix_str(f"gen {number} front {info['front']} HV {info['hv']:.4f}"
                                    + (" (FLOPs latency)" if blind else ""))
            if cfg.mode == "two-stage":
                self.finish_two_stage()
            elif (self.store.last_generation() or {}).get("seconds", -1) < self.elapsed() - 1:
                self.close(number, population, blind=False)  # the budget ran out inside a generation
        finally:
            bar.close()
        points = self.points()
        return {"candidates": len(self.store.candidates()), "measured": len(points), "rejected": self.rejected,
                "trials": self.store.trials_spent(), "seconds": self.elapsed(),
                "front": [self.store.candidate(k).key for k in _front_keys(points)],
                "hypervolume": hypervolume([points[k] for k in _front_keys(points)], cfg.reference)}

    def finish_two_stage(self) -> None:
        """Stage two: tune and measure the blind front, fastest (by FLOPs) first, as time allows."""
        points = self.points(measured_only=False)
        for key in sorted(_front_keys(points), key=lambda k: points[k][1]):
            if self.left() <= 0:
                break
            candidate = self.store.candidate(key)
            if self.store.estimate(candidate, "latency", "measured") is None:
                self.evaluator.tune_and_measure(candidate)
        last = self.store.last_generation()
        self.close((last["number"] if last else 0) + 1, last["population"] if last else [], blind=False)


def _front_keys(points: dict[str, tuple[float, float]]) -> list[str]:
    keys = list(points)
    return [keys[i] for i in pareto_front([points[k] for k in keys])]


def _latency_model(board, schedules):
    from ..costmodel.latency_model import LatencyModel
    from ..records import store_folder

    try:
        return LatencyModel.load(store_folder(board.name, schedules))
    except NacosError:
        return None  # not fitted for this board: screening falls back to FLOPs


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
