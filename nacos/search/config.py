"""What a search is asked to do: its settings, checked before anything runs, and its budget."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NacosError

MODES = ("one-stage", "two-stage")
MIN_BUDGET_SECONDS = 30.0  # below this not even one candidate is trained and measured here


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
    evaluate_per_generation: int = 2  # of those, trained
    trials_per_task: int = 8
    train_epochs: float = 1.0
    train_images: int = 4000
    blind_share: float = 0.5  # two-stage: share of the budget for the compiler-blind NAS
    final_share: float = 0.25  # one-stage: share of the budget kept (at least) to measure the predicted front
    reference: tuple[float, float] = (0.5, 20.0)  # hypervolume reference: accuracy, latency ms
    max_params: float | None = None  # constraints, checked on the static description before anything runs
    max_flops: float | None = None
    max_peak_memory: float | None = None  # bytes of activations alive at once

    def check(self, *, strategy_given: bool = False) -> SearchConfig:
        """The config itself, or a NacosError naming the bad setting. With `strategy_given` (a
        Strategy object comes with the config) `strategy` only names that object in the study
        store, so it need not be a registered strategy."""
        from .strategy import get_strategy

        if self.mode not in MODES:
            raise NacosError(f"unknown search mode '{self.mode}'; modes: {', '.join(MODES)}")
        if self.budget_seconds <= 0:
            raise NacosError(f"the budget must be positive (got {self.budget_seconds} s)")
        if self.budget_seconds < MIN_BUDGET_SECONDS:
            raise NacosError(f"a budget of {self.budget_seconds:.0f} s is too small to evaluate one candidate "
                             f"(training and measuring one takes about {MIN_BUDGET_SECONDS:.0f} s here); "
                             f"give --budget {MIN_BUDGET_SECONDS:.0f}s or more")
        if self.population < 2 or self.evaluate_per_generation < 1 or self.children < self.evaluate_per_generation:
            raise NacosError("give --population 2 or more and --children at least --evaluate (1 or more)")
        for name in ("blind_share", "final_share"):
            if not 0 <= getattr(self, name) < 1:
                raise NacosError(f"--{name.replace('_', '-')} must be in [0, 1) (got {getattr(self, name)})")
        if self.trials_per_task < 0:
            raise NacosError(f"--trials-per-task must be 0 or more (got {self.trials_per_task})")
        if not strategy_given:
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


def jsonable(value):
    """Tuples as lists, recursively: how the settings are kept in the study store."""
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
