"""The estimator interface and what an estimate records (value, what made it, what it cost)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..spaces.base import Genotype


@dataclass(frozen=True)
class Estimate:
    """One estimate of one genotype; higher is better for every estimator.

    `is_accuracy` tells whether `value` is a fraction of correct answers (short training, the
    surrogate) or a score that only ranks architectures (the zero-cost proxies).
    """

    estimator: str
    genotype: str  # Genotype.key()
    value: float
    seconds: float
    is_accuracy: bool
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"estimator": self.estimator, "genotype": self.genotype, "value": self.value,
                "seconds": self.seconds, "is_accuracy": self.is_accuracy, "details": self.details}


class AccuracyEstimator(ABC):
    name: str
    is_accuracy: bool

    def estimate(self, genotype: Genotype) -> Estimate:
        """Time `_value` and wrap it into an Estimate."""
        start = time.perf_counter()
        value, details = self._value(genotype)
        return Estimate(self.name, genotype.key(), float(value), time.perf_counter() - start,
                        self.is_accuracy, details)

    @abstractmethod
    def _value(self, genotype: Genotype) -> tuple[float, dict]:
        """The estimate's value and any details worth keeping."""
