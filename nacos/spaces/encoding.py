"""Genotypes as fixed-length feature vectors, for learned models (accuracy surrogate, cost model).

The layout comes from `Space.all_decisions()`: one slot per (decision, choice), 1.0 where the
genotype made that choice, all zeros for a decision the architecture does not make (a block
beyond its stage's depth). Optional static costs (log FLOPs, log parameters, log peak activation
bytes, layer count) add what trees find hard to sum from one-hot slots.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Genotype, Space, same_value

COST_FEATURES = ("log_flops", "log_params", "log_peak_activation_bytes", "layers")


def feature_names(space: Space, with_costs: bool = True) -> list[str]:
    names = [f"{d.name}={c}" for d in space.all_decisions() for c in d.choices]
    return names + list(COST_FEATURES) if with_costs else names


def encode(space: Space, genotype: Genotype, with_costs: bool = True) -> np.ndarray:
    values = space.validate(genotype).values()
    slots = []
    for decision in space.all_decisions():
        value = values.get(decision.name)
        slots += [1.0 if value is not None and same_value(value, c) else 0.0 for c in decision.choices]
    if with_costs:
        d = space.describe(genotype)
        slots += [math.log(d.flops + 1), math.log(d.params + 1), math.log(d.peak_activation_bytes + 1),
                  float(len(d.layers))]
    return np.asarray(slots, dtype=np.float64)


def encode_all(space: Space, genotypes, with_costs: bool = True) -> np.ndarray:
    return np.stack([encode(space, g, with_costs) for g in genotypes])
