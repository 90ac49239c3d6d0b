"""Architectures as data: a genotype is a space name plus the values of the decisions it made.

A space describes its architectures once, in `plan`: a walk that asks each decision through a
`choose` callback and returns what `assemble` needs to build the network. Decisions may depend
on earlier ones (a stage's depth decides how many block decisions follow; a block's shapes
decide which skip types it may take), so the same walk serves sampling (choose at random),
validation (choose what the genotype says, or fail), repair after mutation or crossover (keep
what is still valid, sample the rest) and building. Genotypes stay plain: hashable, JSON, no
inactive decisions, so one architecture has exactly one genotype.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import NacosError

Value = Union[bool, int, float, str]
Choose = Callable[["Decision"], Value]

_MAX_CHANGES = 3  # a mutation changes 1 decision (p=0.6), 2 (0.24) or at most 3
_RETRIES = 64
_DESCRIPTIONS_KEPT = 4096  # descriptions a space object keeps (a few KB each)


def same_value(a: Value, b: Value) -> bool:
    """Equality that keeps True apart from 1 and 1.0 apart from 1, as JSON does."""
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Decision:
    name: str
    choices: tuple[Value, ...]

    def allows(self, value: Value) -> bool:
        return any(same_value(value, c) for c in self.choices)

    def to_json(self) -> dict:
        return {"name": self.name, "choices": list(self.choices)}


@dataclass(frozen=True)
class Genotype:
    """One architecture of a space: (decision name, value) pairs in the space's walk order."""

    space: str
    decisions: tuple[tuple[str, Value], ...]

    def values(self) -> dict[str, Value]:
        return dict(self.decisions)

    def __getitem__(self, name: str) -> Value:
        return self.values()[name]

    def to_dict(self) -> dict:
        return {"space": self.space, "decisions": dict(self.decisions)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def key(self) -> str:
        """A short id that is stable across processes (Python's hash of a str is not)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @staticmethod
    def from_json(data: str | dict) -> Genotype:
        """Parse the JSON form; whether the values fit the space is `Space.validate`'s job."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise NacosError(f"genotype is not valid JSON: {exc}") from None
            except RecursionError:  # json recurses per nesting level; a genotype is two levels deep
                raise NacosError("genotype is not valid JSON: nested too deeply to be a genotype") from None
        if not isinstance(data, dict) or not isinstance(data.get("space"), str) \
                or not isinstance(data.get("decisions"), dict):
            raise NacosError('a genotype is a JSON object {"space": NAME, "decisions": {NAME: VALUE, ...}}')
        for name, value in data["decisions"].items():
            if not isinstance(value, (bool, int, float, str)):
                raise NacosError(f"genotype decision '{name}' has value {value!r}; "
                                 f"values are numbers, strings or booleans")
        return Genotype(data["space"], tuple(data["decisions"].items()))


class Space(ABC):
    """A family of networks: sample, mutate, cross over, validate, build and describe genotypes."""

    name: str
    title: str
    input_shape: tuple[int, ...]
    num_classes: int
    calibrate_batchnorm = True  # see nacos.zoo.calibrate_batchnorm

    # ------------------------------------------------------------------ what a space defines

    @abstractmethod
    def plan(self, choose: Choose, input_shape: tuple[int, ...]) -> Any:
        """Ask every decision of one architecture through `choose`; return what assemble needs."""

    @abstractmethod
    def assemble(self, plan: Any, input_shape: tuple[int, ...], num_classes: int):
        """The torch.nn.Module for a plan (weights random; latency does not depend on them)."""

    @abstractmethod
    def all_decisions(self) -> list[Decision]:
        """Every decision any genotype can make, with all its possible choices.

        The fixed layout for encodings and features: a genotype uses a subset of these names
        (the others are inactive for it), and its values are among these choices.
        """

    def summary(self, genotype: Genotype) -> str:
        """One line naming the architecture."""
        return " ".join(f"{n}={v}" for n, v in genotype.decisions)

    # ------------------------------------------------------------------ the walk, three ways

    def _walk(self, choose: Choose, input_shape: tuple[int, ...]) -> tuple[Genotype, list[Decision], Any]:
        """Run `plan`, recording the decisions that have a real choice (two or more)."""
        asked: list[Decision] = []
        values: list[Value] = []

        def record(decision: Decision) -> Value:
            if len(decision.choices) == 1:
                return decision.choices[0]
            if any(d.name == decision.name for d in asked):
                raise ValueError(f"space '{self.name}' asks decision '{decision.name}' twice")
            value = choose(decision)
            asked.append(decision)
            values.append(value)
            return value

        plan = self.plan(record, tuple(input_shape))
        genotype = Genotype(self.name, tuple((d.name, v) for d, v in zip(asked, values)))
        return genotype, asked, plan

    def _repair(self, wanted: Callable[[Decision], list[Value]], rng: np.random.Generator) -> Genotype:
        """A valid genotype taking, per decision, a random one of the wanted values that fit."""

        def choose(decision: Decision) -> Value:
            fitting = [v for v in wanted(decision) if decision.allows(v)]
            pool = fitting or list(decision.choices)
            return pool[int(rng.integers(len(pool)))]

        return self._walk(choose, self.input_shape)[0]

    # ------------------------------------------------------------------ the public operations

    def sample(self, rng: np.random.Generator) -> Genotype:
        return self._repair(lambda d: [], rng)

    def validate(self, genotype: Genotype, input_shape: Sequence[int] | None = None) -> Genotype:
        """The genotype in canonical order, or a NacosError that names what does not fit."""
        return self._checked(genotype, input_shape)[0]

    def decisions(self, genotype: Genotype) -> list[Decision]:
        """The decisions this genotype makes, in walk order, with the choices each had."""
        return self._checked(genotype, None)[1]

    def load(self, text: str | dict) -> Genotype:
        """A genotype read from JSON, rejected unless it belongs to this space."""
        return self.validate(Genotype.from_json(text))

    def _checked(self, genotype: Genotype, input_shape: Sequence[int] | None):
        if not isinstance(genotype, Genotype):
            raise NacosError(f"expected a Genotype of space '{self.name}', got {type(genotype).__name__}")
        if genotype.space != self.name:
            raise NacosError(f"genotype belongs to space '{genotype.space}', not to space '{self.name}'")
        given = genotype.values()

        def lookup(decision: Decision) -> Value:
            if decision.name not in given:
                raise NacosError(f"{self.name} genotype lacks decision '{decision.name}' "
                                 f"(choices {list(decision.choices)})")
            value = given[decision.name]
            if not decision.allows(value):
                raise NacosError(f"{self.name} decision '{decision.name}' is {value!r}; "
                                 f"here it must be one of {list(decision.choices)}")
            return value

        canonical, asked, plan = self._walk(lookup, tuple(input_shape or self.input_shape))
        unknown = sorted(set(given) - {d.name for d in asked})
        if unknown:
            raise NacosError(f"{self.name} genotype has decisions this architecture does not make: "
                             f"{', '.join(unknown)}")
        return canonical, asked, plan

    def mutate(self, genotype: Genotype, rng: np.random.Generator) -> Genotype:
        """Change one to three decisions to other choices; always differs from the parent.

        The first changed decision in walk order keeps its new value (everything before it is
        unchanged, so it is asked with the same choices), which is why the child always differs.
        """
        genotype, asked, _ = self._checked(genotype, None)
        if not asked:
            raise NacosError(f"space '{self.name}' has a single architecture: nothing to mutate")
        count = min(len(asked), _MAX_CHANGES, int(rng.geometric(0.6)))
        changed = {}
        for index in rng.choice(len(asked), size=count, replace=False):
            decision = asked[int(index)]
            others = [c for c in decision.choices if not same_value(c, genotype[decision.name])]
            changed[decision.name] = others[int(rng.integers(len(others)))]
        values = {**genotype.values(), **changed}
        return self._repair(lambda d: [values[d.name]] if d.name in values else [], rng)

    def crossover(self, a: Genotype, b: Genotype, rng: np.random.Generator) -> Genotype:
        """Uniform crossover; the child differs from both parents.

        Each decision comes from a random parent that has it (a decision only one parent makes,
        such as a block that exists under its depth, comes from that parent). When the parents
        differ in fewer than two decisions, or no mix differs from both (parents that differ
        only in a depth and the blocks it adds), the child is a mutation of a parent instead.
        """
        a, b = self.validate(a), self.validate(b)
        va, vb = a.values(), b.values()
        differing = [n for n in set(va) | set(vb)
                     if n not in va or n not in vb or not same_value(va[n], vb[n])]
        if len(differing) >= 2:
            for _ in range(_RETRIES):
                child = self._repair(lambda d: [p[d.name] for p in (va, vb) if d.name in p], rng)
                if child != a and child != b:
                    return child
        for _ in range(_RETRIES):
            child = self.mutate(a if rng.random() < 0.5 else b, rng)
            if child != a and child != b:
                return child
        raise NacosError(f"space '{self.name}' found no child that differs from both parents")

    def build(self, genotype: Genotype, input_shape: Sequence[int] | None = None,
              num_classes: int | None = None):
        """The network in eval mode, with seeded new weights.

        Seeded (without touching the global torch RNG) so that a genotype always gives the
        same module. See `nacos.zoo.calibrate_batchnorm` for the batch-norm statistics.
        """
        import torch

        from ..zoo import calibrate_batchnorm as calibrate

        shape = tuple(input_shape or self.input_shape)
        _, _, plan = self._checked(genotype, shape)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = self.assemble(plan, shape, num_classes or self.num_classes)
            if self.calibrate_batchnorm:
                calibrate(model, shape, batches=1)
        return model.eval()

    def describe(self, genotype: Genotype, input_shape: Sequence[int] | None = None):
        """Static costs of the built network: FLOPs, parameters, peak activations, layers.

        Kept per space object: a search asks it of one genotype for its constraints, FLOPs,
        encoding and latency features, and building plus tracing costs about 0.1-0.5 s.
        """
        from .describe import describe_module

        shape = tuple(input_shape or self.input_shape)
        memo = self.__dict__.setdefault("_descriptions", {})
        key = (genotype.key(), shape)
        if key not in memo:
            if len(memo) >= _DESCRIPTIONS_KEPT:
                memo.clear()
            memo[key] = describe_module(self.build(genotype, shape), shape)
        return memo[key]
