"""The search loops: an evolution both modes share, and the one-stage co-search built on it.

`Search` is the evolution: per generation the strategy proposes children, each is screened
cheaply (accuracy guessed by the surrogate or the proxy, latency by the search's latency
estimator), the few with the largest optimistic hypervolume gain per expected second of training
are trained (`training_order`), and the strategy is told the results. Every candidate kept is
trained; what differs between the modes is how latency is known.

`OneStageSearch` (the co-search) ranks the children by FLOPs scaled to its own predictions
(`prescreen`, a static rung), predicts the tuned latency of the best two per child trained with
the board's latency model and the record store, and measures (tunes and times) only where it
pays (`policy.FrontPolicy`): during the search, at most one uncertain candidate per generation
that could change the front; in the final share of the budget (`final_share`), the predicted
front, best hypervolume gain per second first, while that rate is worth it. The latency model
is refitted on what it measured.
The two-stage baseline is `two_stage.TwoStageSearch`.

The front that counts, in both modes, uses measured latency only. Everything lands in the study
store as it finishes, the policy's choices included, so `--resume` continues where a killed run
stopped: candidates already trained or measured are not evaluated again.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..board import Board
from ..errors import NacosError
from ..spaces.base import Space
from .config import SearchConfig, jsonable
from .estimators import AccuracyScreen, Guess, LatencyEstimator, create_latency, optimistic
from .evaluation import Measurement, Training, relative_costs
from .pareto import Point, hypervolume, pareto_front
from .policy import Choice, MeasurePolicy, Situation, create as create_policy, prediction_error
from .store import STUDY_FILE, Candidate, StudyStore
from .strategy import Strategy, get_strategy

REFIT_EVERY = 3  # new measurements before the latency model is refitted (a refit takes about 20 s)
EARLIEST_FINAL = 0.5  # share of the budget before which the one-stage final share never starts
PREDICTED_PER_TRAINED = 2  # one-stage: children predicted per child a generation trains
MIN_SCALE_POINTS = 4  # predictions before FLOPs can be scaled to predicted milliseconds


def cost_weight(spent_share: float) -> float:
    """How much training cost counts at `spent_share` of the training horizon (Search.training_horizon):
    1 at the start, 0 at its end (cost cooling, as CArBO's cost-aware Bayesian optimisation does). Gain per second alone
    favours cheap networks to the end: seed 41 of the 15-minute benchmark at 8db5100 trained 104
    networks of median 0.45 MFLOPs and none reached the 0.76 accuracy that gain alone found at
    145b7b2; gain alone trained 40 and found no cheap accurate network (seed 31)."""
    return min(max(1.0 - spent_share, 0.0), 1.0)


def training_order(children: list[Candidate], gains: dict[str, float], costs: dict[str, float],
                   weight: float = 1.0) -> list[Candidate]:
    """Children best first: optimistic hypervolume gain per expected second of training raised to
    `weight` (cost_weight), cheaper first on ties. `costs` are expected seconds, or before the
    first training numbers in proportion to them (evaluation.relative_training_costs). Without
    the cost, a search that starts among large networks (25-35 s each) trains a few of them per
    generation and is still there when its budget ends: seed 12 of the 15-minute benchmark
    trained 14 networks in 5 generations against the two-stage run's 64 in 21, and at 145b7b2
    seeds 31 and 32 trained 4-5 MFLOPs networks in their first generations (40 and 44 trained
    against the two-stage's 44 and 76)."""
    return sorted(children, key=lambda c: (-gains[c.key] / max(costs[c.key], 1e-9) ** weight, costs[c.key]))


class Search:
    """The evolution both modes share; subclasses say how latency is known and when to measure."""

    mode = ""
    latency_estimator = "flops"

    def __init__(self, config: SearchConfig, out: Path, resume: bool = False, schedules: Path | None = None,
                 rpc=None, progress: bool = True, *, strategy: Strategy | None = None,
                 latency: LatencyEstimator | None = None, accuracy: AccuracyScreen | None = None,
                 training: Training | None = None, measurement: Measurement | None = None,
                 space: Space | None = None, board: Board | None = None):
        """`space`, `board` and `strategy` objects stand in for the ones the config names (the
        config, kept in the study store, holds their names: give the same objects to resume)."""
        from ..accuracy.training import Recipe
        from ..board import load_board
        from ..datasets import load_dataset
        from ..spaces import get_space

        self.config = config.check(strategy_given=strategy is not None)
        if config.mode != self.mode:
            raise NacosError(f"{type(self).__name__} runs mode '{self.mode}', not '{config.mode}'")
        self.out = Path(out)
        path = self.out / STUDY_FILE
        if path.exists() and not resume:
            raise NacosError(f"'{self.out}' already holds a search; add --resume to continue it or give a new --out")
        if resume and not path.exists():
            raise NacosError(f"nothing to resume in '{self.out}' (no {STUDY_FILE})")
        self.board = board if board is not None else load_board(config.target)
        self.space = space if space is not None else get_space(config.space)
        dataset = load_dataset(config.dataset)  # before the store: a missing data set leaves no folder
        self.store = StudyStore.of_run(self.out, create=True, resume=resume)
        settings = {"config": jsonable(asdict(config))}
        if resume and self.store.setting("config") != settings["config"]:
            raise NacosError(f"'{self.out}' was started with other settings; resume with the same options")
        if not resume:
            self.store.set_settings(settings)
        if schedules is not None:  # remembered: a resume and `nacos export --pick` use it unless told otherwise
            schedules = Path(schedules).resolve()
            self.store.set_settings({"schedules": str(schedules)})
        elif resume and self.store.setting("schedules"):
            schedules = Path(self.store.setting("schedules"))
        self.schedules, self.rpc, self.progress = schedules, rpc, progress
        self.strategy = strategy or get_strategy(config.strategy, config.population)
        self.strategy.size = config.population
        self.rng = np.random.default_rng(config.seed + len(self.store.candidates()))
        self.latency = latency or self.default_latency()
        self.store.set_settings({"latency_estimator": self.latency.name})
        self.accuracy = accuracy or AccuracyScreen(self.space, dataset, self.store, config.reference[0])
        recipe = Recipe(epochs=config.train_epochs, train_images=config.train_images, seed=config.seed)
        self.training = training or Training(self.space, dataset, self.store, recipe, progress=progress)
        self.measurement = measurement or Measurement(self.space, self.board, self.store, self.out,
                                                      config.trials_per_task, schedules=schedules, rpc=rpc,
                                                      progress=progress, on_store_change=self.latency.store_changed)
        self.guesses: dict[str, Guess] = {}  # latency guesses of this process, by candidate key
        self.rejected = 0  # genotypes dropped by the constraints, in this process
        self.bar = None
        self.started = time.perf_counter()
        self.spent_before = float(self.store.setting("elapsed", 0.0))
        last = self.store.last_generation()
        self.number = last["number"] if last else -1

    def record_folders(self) -> list[Path]:
        """The record store layers latency estimates read (store_folders), the written one first."""
        from ..records import store_folders

        return store_folders(self.board.name, self.schedules)

    def default_latency(self) -> LatencyEstimator:
        return create_latency(self.latency_estimator, self.space, self.store, self.board, self.record_folders())

    # ------------------------------------------------------------------ bookkeeping

    def elapsed(self) -> float:
        return self.spent_before + time.perf_counter() - self.started

    def left(self) -> float:
        return self.config.budget_seconds - self.elapsed()

    def tick(self) -> None:
        """Keep the time spent (a killed run's time still counts) and show it."""
        self.store.set_settings({"elapsed": self.elapsed()})
        if self.bar is not None:
            self.bar.n = min(round(self.elapsed()), round(self.config.budget_seconds))
            self.bar.refresh()

    def genotypes(self) -> dict:
        return {c.key: c.genotype for c in self.store.candidates()}

    def measured_points(self) -> dict[str, Point]:
        """key -> (trained accuracy, measured latency ms): the points that count."""
        measured = self.store.values("latency", "measured")
        return {k: (e.value, measured[k].value) for k, e in self.store.values("accuracy", "train").items()
                if k in measured}

    def latency_guess(self, candidate: Candidate) -> Guess:
        if candidate.key not in self.guesses:
            self.guesses[candidate.key] = self.latency.guess(candidate)
        return self.guesses[candidate.key]

    def working_points(self) -> dict[str, Point]:
        """key -> (trained accuracy, latency as best known): measured, else the latency guess."""
        measured = self.store.values("latency", "measured")
        by_key = {c.key: c for c in self.store.candidates()}
        return {k: (e.value, measured[k].value if k in measured else self.latency_guess(by_key[k]).value)
                for k, e in self.store.values("accuracy", "train").items()}

    def measurable_seconds(self) -> float:
        """The longest measurement that may start now: one that ends within the budget, any while
        nothing is measured (an empty front counts nothing), none once the budget is spent. Both
        modes overran the 15-minute budget by their last measurement (hybrid seed 24 at 442cc27:
        947 and 964 s)."""
        left = self.left()
        if left <= 0:
            return -math.inf
        return left if self.store.values("latency", "measured") else math.inf

    def fits(self, seconds: float) -> bool:
        """Whether a measurement expected to take `seconds` may start now."""
        return seconds <= self.measurable_seconds()

    def cost_weight(self) -> float:
        """How much training cost counts in `training_order` now (cost_weight); none once the
        training horizon is reached (a two-stage blind share of 0 has no horizon at all)."""
        horizon = self.training_horizon()
        return cost_weight(self.elapsed() / horizon) if horizon > 0 else 0.0

    def training_horizon(self) -> float:
        """Seconds into the budget until which generations are trained (the whole budget here)."""
        return self.config.budget_seconds

    def generation_seconds(self) -> float:
        """What a generation's training should cost: its trainings at the median seconds so far."""
        seconds = [e.seconds for e in self.store.values("accuracy", "train").values()]
        return self.config.evaluate_per_generation * float(np.median(seconds)) if seconds else 0.0

    def feasible(self, genotype) -> bool:
        """Within the parameter / FLOPs / peak-memory limits (counted as rejected otherwise)."""
        if self.config.violation(self.space.describe(genotype)) is None:
            return True
        self.rejected += 1
        return False

    def accept(self, genotype) -> bool:
        return self.store.candidate(genotype.key()) is None and self.feasible(genotype)

    def close(self) -> dict:
        """Close the current generation with the measured front and the strategy's population."""
        points = self.measured_points()
        keys = list(points)
        front = [keys[i] for i in pareto_front([points[k] for k in keys])]
        hv = hypervolume([points[k] for k in front], self.config.reference)
        self.store.close_generation(self.number, front, hv, self.config.reference, self.strategy.population,
                                    self.elapsed(), self.store.trials_spent())
        self.tick()
        if self.bar is not None:
            self.bar.set_postfix_str(f"gen {self.number} trained {len(self.store.values('accuracy', 'train'))} "
                                     f"measured {len(points)} front {len(front)} HV {hv:.4f}")
        return {"front": len(front), "hv": hv}

    # ------------------------------------------------------------------ the evolution

    def train(self, candidate: Candidate) -> None:
        self.latency.flops(candidate)  # what training costs is learnt over FLOPs (`training_order`)
        self.training.train(candidate)
        self.tick()
        self.after_training(candidate)

    def after_training(self, candidate: Candidate) -> None:
        """What a mode does once a candidate's accuracy is known (default: nothing)."""

    def tell(self) -> None:
        points = self.working_points()
        ages = {c.key: c.id for c in self.store.candidates() if c.key in points}
        self.strategy.tell(points, self.genotypes(), ages)

    def generation_zero(self) -> None:
        """Random candidates (the same for both modes at one seed), each trained."""
        chosen = [c for c in self.store.candidates() if c.generation == 0 and c.selected]
        for _ in range(50 * self.config.population):
            if len(chosen) >= self.config.population:
                break
            g = self.space.sample(self.rng)
            if self.accept(g):
                chosen.append(self.store.select(self.store.add_candidate(g, 0, "sample")))
        self.number = 0
        for c in chosen:
            if self.left() <= 0:
                break
            if not self.training.done(c):
                self.train(c)
        self.tell()
        self.after_generation()
        self.close()

    def finish_selected(self) -> None:
        """Train what was selected but not trained (what a killed run left)."""
        for c in self.store.candidates():
            if self.left() <= 0:
                return
            if c.selected and not self.training.done(c):
                self.train(c)

    def screen(self, candidate: Candidate) -> tuple[Point, Point]:
        """(expected, optimistic) point of a child from its cheap estimates."""
        accuracy, latency = self.accuracy.guess(candidate), self.latency_guess(candidate)
        expected = (accuracy.value, latency.value)
        return expected, optimistic(expected, accuracy.spread, latency.spread)

    def generation(self) -> bool:
        """Propose, screen, train the most promising, tell. False when nothing new was proposed."""
        self.finish_selected()
        self.before_generation()
        trained = self.store.values("accuracy", "train")
        by_key = {c.key: c for c in self.store.candidates()}
        self.accuracy.refit({k: (by_key[k].genotype, e.value) for k, e in trained.items()})
        proposals = self.strategy.propose(self.space, self.config.children, self.rng, self.accept)
        if not proposals:
            return False
        self.number += 1
        children = [self.store.add_candidate(p.genotype, self.number, p.origin, p.parents) for p in proposals]
        front = [p for p in self.working_points().values()]
        front = [front[i] for i in pareto_front(front)]
        children = self.prescreen(children, front)
        screened = {c.key: self.screen(c) for c in children}
        gains = {k: hypervolume(front + [hope], self.config.reference) - hypervolume(front, self.config.reference)
                 for k, (_, hope) in screened.items()}
        flops = {c.key: self.latency.flops(c) for c in children}
        seconds = self.training.expected_seconds_of(flops)
        weight = self.cost_weight()
        ranked = training_order(children, gains, relative_costs(seconds, flops), weight)
        for rank, c in enumerate(ranked):
            expected = screened[c.key][0]
            numbers = {"accuracy": expected[0], "latency_ms": expected[1], "gain": gains[c.key], "rank": rank,
                       "train_seconds": seconds[c.key], "cost_weight": weight}
            why = f"optimistic hypervolume gain {gains[c.key]:.4g}" + (
                "" if seconds[c.key] is None else f" for about {seconds[c.key]:.0f} s of training")
            if rank < self.config.evaluate_per_generation and self.left() > 0:
                self.store.add_decision(c, "train", "train", f"{why}, rank {rank + 1} of {len(ranked)} screened",
                                        numbers)
                self.train(self.store.select(c))
            else:
                self.store.add_decision(c, "train", "skip", f"screened out: {why}, rank {rank + 1} of {len(ranked)}",
                                        numbers)
        self.tell()
        self.after_generation()
        self.close()
        return True

    def prescreen(self, children: list[Candidate], front: list[Point]) -> list[Candidate]:
        """The children worth the latency estimate of `screen` (default: all; FLOPs is free)."""
        return children

    def before_generation(self) -> None:
        """A mode's work before children are proposed (default: nothing)."""

    def after_generation(self) -> None:
        """A mode's work once a generation's children are trained (default: nothing)."""

    def step(self) -> bool:
        """A mode's work before the next generation; True if it did some (default: none)."""
        return False

    def run(self) -> dict:
        cfg = self.config
        self.bar = tqdm(total=round(cfg.budget_seconds), initial=min(round(self.elapsed()), round(cfg.budget_seconds)),
                        desc=f"{self.mode} search", unit="s", disable=not self.progress, dynamic_ncols=True)
        try:
            last = self.store.last_generation()
            if last is None:
                self.generation_zero()
            else:
                self.strategy.restore(last["population"], self.working_points(), self.genotypes())
            while self.left() > 0 and self.search_goes_on():
                if self.step():
                    continue
                if not self.generation():
                    break
            self.finish()
            last = self.store.last_generation()
            if last is None or last["seconds"] < self.elapsed() - 1:
                self.close()  # the budget ran out inside a generation
        finally:
            self.bar.close()
        return self.result()

    def search_goes_on(self) -> bool:
        """Whether generations go on (the two-stage baseline stops its blind part early)."""
        return True

    def finish(self) -> None:
        """A mode's work once the generations are over (default: nothing)."""

    # ------------------------------------------------------------------ what it found

    def result(self) -> dict:
        points = self.measured_points()
        keys = list(points)
        front = [keys[i] for i in pareto_front([points[k] for k in keys])]
        return {"mode": self.mode, "candidates": len(self.store.candidates()),
                "trained": len(self.store.values("accuracy", "train")),
                "predicted": len(self.store.values("latency", "predicted")), "measured": len(points),
                "rejected": self.rejected, "trials": self.store.trials_spent(), "seconds": self.elapsed(),
                "measuring_seconds": self.store.measuring_seconds(),
                "front": front, "hypervolume": hypervolume([points[k] for k in front], self.config.reference),
                "prediction": self.store.prediction_quality()}


class OneStageSearch(Search):
    """The co-search: schedule-aware predicted latency for every candidate, measurement where it pays."""

    mode = "one-stage"
    latency_estimator = "predicted"

    def __init__(self, *args, policy: MeasurePolicy | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy or create_policy("front")
        self.queued: list[tuple[str, Choice]] = []  # measure-now choices of this generation
        self.refitted_on = 0

    def default_latency(self) -> LatencyEstimator:
        try:
            return create_latency("predicted", self.space, self.store, self.board, self.record_folders(),
                                  self.config.trials_per_task)
        except NacosError as exc:
            print(f"nacos: note: {exc}; one-stage screening falls back to FLOPs (compiler-blind) latency",
                  file=sys.stderr)
            return create_latency("flops", self.space, self.store)

    def prescreen(self, children: list[Candidate], front: list[Point]) -> list[Candidate]:
        """The static rung before the prediction: FLOPs scaled by this search's predicted ms per
        FLOP (median; its log spread as the spread), with the accuracy guess, ranks the children
        as `training_order` does, and only the best PREDICTED_PER_TRAINED per child trained are
        predicted. A first prediction lowers the network parts it has not seen (1-3 s; 80-130 s
        of the 15-minute benchmark's runs at 809ebe4, 8 children predicted for 2 trained)."""
        limit = PREDICTED_PER_TRAINED * self.config.evaluate_per_generation
        predicted, flops = self.store.values("latency", "predicted"), self.store.values("latency", "flops")
        ratios = [math.log(e.value / flops[k].value) for k, e in predicted.items()
                  if k in flops and flops[k].value > 0 and e.value > 0]
        if len(children) <= limit or len(ratios) < MIN_SCALE_POINTS:
            return children
        scale, spread = math.exp(float(np.median(ratios))), float(np.std(ratios))
        gains, numbers, before = {}, {}, hypervolume(front, self.config.reference)
        child_flops = {c.key: self.latency.flops(c) for c in children}
        for c in children:
            accuracy, latency = self.accuracy.guess(c), child_flops[c.key] * scale
            hope = optimistic((accuracy.value, latency), accuracy.spread, spread)
            gains[c.key] = hypervolume(front + [hope], self.config.reference) - before
            numbers[c.key] = {"accuracy": accuracy.value, "latency_ms": latency, "gain": gains[c.key],
                              "ms_per_flop": scale, "spread": spread}
        ranked = training_order(children, gains, self.training.costs(child_flops), self.cost_weight())
        for rank, c in enumerate(ranked[limit:], start=limit):
            self.store.add_decision(c, "train", "skip", f"screened out before prediction: optimistic hypervolume "
                                    f"gain {gains[c.key]:.4g} by FLOPs at {scale:.3g} ms per FLOP, rank {rank + 1} "
                                    f"of {len(ranked)}", {**numbers[c.key], "rank": rank})
        return ranked[:limit]

    def final_share_started(self) -> bool:
        """The final share starts at `final_share` of the budget left, or earlier when measuring
        the predicted front is expected to take what is left, but never before EARLIEST_FINAL of
        the budget: a front of networks with many untuned tasks otherwise stops the search early
        (seed 12 of the first 15-minute benchmark began measuring at 24 % of its budget and
        trained 14 candidates, against the two-stage run's 82)."""
        done = self.elapsed() / self.config.budget_seconds
        if done >= 1.0 - self.config.final_share:
            return True
        return done >= EARLIEST_FINAL and self.front_cost() >= self.left()

    def front_cost(self) -> float:
        """Expected seconds to measure the unmeasured members of the predicted front."""
        s = self.situation()
        keys = list(s.measured) + list(s.predicted)
        points = [s.measured.get(k) or s.predicted[k] for k in keys]
        return sum(self.cost(keys[i]) for i in pareto_front(points) if keys[i] in s.predicted)

    def situation(self) -> Situation:
        measured = self.measured_points()
        tried = {c.key for c in self.store.candidates() if self.store.tuning(c) is not None}
        skipped = {d["key"] for d in self.store.decisions() if d["action"] == "skip" and d["stage"] != "train"}
        by_key = {c.key: c for c in self.store.candidates()}
        predicted, guesses = {}, {}
        for k, e in self.store.values("accuracy", "train").items():
            if k in measured or k in tried or k in skipped:
                continue
            guesses[k] = self.latency_guess(by_key[k])
            predicted[k] = (e.value, guesses[k].value)
        values = self.store.values("latency", "predicted")
        pairs = [(values[k].value, p[1]) for k, p in measured.items() if k in values]
        return Situation(measured, predicted, guesses, prediction_error(pairs), self.config.reference, self.elapsed())

    def after_training(self, candidate: Candidate) -> None:
        situation = self.situation()
        if candidate.key not in situation.predicted:
            return
        choice = self.policy.decide(candidate.key, situation)
        if choice.action == "measure":
            self.queued.append((candidate.key, choice))
        else:
            self.store.add_decision(candidate, "measure", choice.action, choice.reason, choice.details)

    def after_generation(self) -> None:
        """Measure the queued candidates worth most per second, up to the policy's share."""
        queued, self.queued = self.queued, []
        cost = {k: self.cost(k) for k, _ in queued}
        queued.sort(key=lambda kc: -kc[1].details.get("gain", 0.0) / cost[kc[0]])
        measured = 0
        for key, choice in queued:
            candidate = self.store.candidate(key)
            spent = self.store.measuring_seconds()
            if measured >= self.policy.per_generation:
                why = f"this generation's measurement went to {queued[0][0]}"
            elif not self.policy.may_measure_now(spent, self.elapsed(), cost[key]):
                why = (f"measuring it (about {cost[key]:.0f} s) would take the search's measuring past "
                       f"{100 * self.policy.search_share:.0f}% of its time")
            elif not self.fits(cost[key]):
                why = f"measuring it (about {cost[key]:.0f} s) would outlast the budget ({max(self.left(), 0):.0f} s left)"
            else:
                self.store.add_decision(candidate, "measure", "measure", choice.reason, choice.details)
                self.measure(candidate)
                measured += 1
                continue
            self.store.add_decision(candidate, "measure", "defer", f"{choice.reason}; deferred: {why}",
                                    choice.details)

    def cost(self, key: str) -> float:
        """Expected seconds to measure a candidate: its untuned tasks from the latency guess."""
        guess = self.guesses.get(key)
        new_tasks = (guess.details["tasks"] - guess.details["tasks_in_store"]) if guess and "tasks" in guess.details \
            else 0
        return self.measurement.expected_seconds(new_tasks)

    def measure(self, candidate: Candidate) -> None:
        self.measurement.measure(candidate)
        self.tick()
        self.refresh_guesses()

    def refresh_guesses(self) -> None:
        """The store or the model changed: forget the latency guesses of unmeasured candidates
        (they are predicted again when next needed, with the new task times)."""
        measured = self.store.values("latency", "measured")
        self.guesses = {k: g for k, g in self.guesses.items() if k in measured}

    def pending(self) -> Candidate | None:
        """A candidate chosen for measurement whose measurement never finished (a killed run)."""
        chosen = {d["key"] for d in self.store.decisions() if d["action"] == "measure"}
        for c in self.store.candidates():
            if c.key in chosen and self.store.tuning(c) is None:
                return c
        return None

    def before_generation(self) -> None:
        if not self.final_share_started():
            self.refit_latency_model()

    def refit_latency_model(self) -> None:
        samples = self.measured_samples()
        if len(samples) - self.refitted_on < REFIT_EVERY:
            return
        info = self.latency.refit(samples)
        self.refitted_on = len(samples)
        if info is not None:
            self.store.set_settings({"latency_model": info})
            self.refresh_guesses()
        self.tick()

    def measured_samples(self) -> list[dict]:
        """The search's measured candidates in the latency data set's form (for refitting)."""
        samples = []
        by_key = {c.key: c for c in self.store.candidates()}
        for key, e in self.store.values("latency", "measured").items():
            if e.details.get("tasks"):
                samples.append({"space": self.space.name, "genotype": by_key[key].genotype.to_dict(), "key": key,
                                "target": self.board.name, "latency_ms": e.value, "tasks": e.details["tasks"]})
        return samples

    def step(self) -> bool:
        pending = self.pending()
        if pending is not None:
            self.measure(pending)
            return True
        if not self.final_share_started():
            return False
        situation = self.situation()
        if self.left() < 2 * self.generation_seconds():  # what is trained now could not be measured in time
            situation = replace(situation, elapsed=0.0)  # so any gain is worth its seconds
        picked = self.policy.final_pick(situation, self.cost, self.measurable_seconds())
        if picked is None:
            return False  # nothing on the predicted front worth measuring now: more generations
        key, choice = picked
        candidate = self.store.candidate(key)
        self.store.add_decision(candidate, "final", "measure", choice.reason, choice.details)
        self.measure(candidate)
        return True

