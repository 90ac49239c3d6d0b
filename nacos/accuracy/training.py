"""Short training: the honest, costly estimate that the cheap ones are checked against.

One fixed recipe for every candidate, so that accuracies compare: AdamW with a one-cycle
learning rate over the whole budget, batch 128, mild label smoothing, seeded data order, on a
seeded subset of the training split; validation accuracy on a fixed subset of the validation
split. The budget is in epochs, optionally cut short by seconds (then the schedule still ends
where the time runs out, since it is planned from the measured speed of the first steps).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..datasets import Dataset, Split
from ..errors import NacosError
from ..spaces.base import Genotype, Space
from .base import AccuracyEstimator


@dataclass(frozen=True)
class Recipe:
    epochs: float = 2.0
    max_seconds: float | None = None  # cut the training (not the evaluation) to this wall time
    train_images: int | None = 8000  # None: the whole training split
    val_images: int | None = 5000
    batch_size: int = 128
    lr: float = 1e-2
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    seed: int = 0

    def check(self) -> Recipe:
        if not self.epochs > 0:
            raise NacosError(f"training epochs must be more than 0 (got {self.epochs})")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise NacosError(f"training seconds must be more than 0 (got {self.max_seconds})")
        for name in ("train_images", "val_images"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise NacosError(f"{name.replace('_', ' ')} must be 1 or more (got {value})")
        return self


@dataclass(frozen=True)
class TrainingResult:
    val_accuracy: float
    epochs_done: float
    steps: int
    first_loss: float  # mean training loss over the first 10% of the steps
    last_loss: float  # and over the last 10%
    train_seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(model, x, y, batch_size: int = 512) -> float:
    """Top-1 accuracy of the model in eval mode."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            correct += int((model(x[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum())
    return correct / len(y)


def train(model, train_split: Split, val_split: Split, input_shape, recipe: Recipe,
          progress: bool = False, label: str = "train") -> TrainingResult:
    """Train `model` in place with the recipe, then measure its validation accuracy."""
    import torch
    from torch import nn
    from tqdm import tqdm

    recipe.check()
    x, y = train_split.subset(recipe.train_images, recipe.seed).tensors(input_shape)
    vx, vy = val_split.subset(recipe.val_images, 0).tensors(input_shape)
    steps_per_epoch = math.ceil(len(y) / recipe.batch_size)
    total = max(1, round(recipe.epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total,
                                                   pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    gen = torch.Generator().manual_seed(recipe.seed)
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    bar = tqdm(total=total, desc=label, unit="step", disable=not progress, leave=False)
    step = 0
    order = torch.randperm(len(y), generator=gen)
    while step < total:
        at = (step % steps_per_epoch) * recipe.batch_size
        if at == 0 and step:
            order = torch.randperm(len(y), generator=gen)
        batch = order[at:at + recipe.batch_size]
        loss = loss_fn(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        step += 1
        bar.update()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if recipe.max_seconds is not None and step == 10 and total > 10:
            # Plan the schedule for the steps the time allows, keeping the one-cycle shape.
            per_step = (time.perf_counter() - start) / step
            affordable = max(step + 1, int(recipe.max_seconds / per_step))
            if affordable < total:
                total = affordable
                bar.total = total
                schedule = _rescheduled(optimizer, recipe, total, step)
        if not math.isfinite(losses[-1]):
            break
    bar.close()
    train_seconds = time.perf_counter() - start
    tenth = max(1, len(losses) // 10)
    return TrainingResult(val_accuracy=evaluate(model, vx, vy), epochs_done=step / steps_per_epoch, steps=step,
                          first_loss=float(np.mean(losses[:tenth])), last_loss=float(np.mean(losses[-tenth:])),
                          train_seconds=train_seconds)


def _rescheduled(optimizer, recipe: Recipe, total: int, done: int):
    """A one-cycle schedule over `total` steps, advanced past the `done` steps already taken."""
    import torch

    for group in optimizer.param_groups:
        group.pop("initial_lr", None)
        group.pop("max_lr", None)
        group.pop("min_lr", None)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total, pct_start=0.15)
    for _ in range(done):
        schedule.step()
    return schedule


class ShortTraining(AccuracyEstimator):
    """Validation accuracy after the recipe's short training of the genotype's network."""

    name = "train"
    is_accuracy = True

    def __init__(self, space: Space, dataset: Dataset, recipe: Recipe = Recipe(), progress: bool = False,
                 test: bool = False):
        self.space = space
        self.dataset = dataset
        self.recipe = recipe.check()
        self.progress = progress
        self.test = test  # also measure the test split (for reporting, never for choosing)

    def _value(self, genotype: Genotype) -> tuple[float, dict]:
        model = self.space.build(genotype, num_classes=self.dataset.num_classes)
        result = train(model, self.dataset.train, self.dataset.val, self.space.input_shape, self.recipe,
                       progress=self.progress, label=f"train {genotype.key()}")
        details = {**result.to_json(), "recipe": asdict(self.recipe), "dataset": self.dataset.name}
        if self.test:
            details["test_accuracy"] = evaluate(model, *self.dataset.test.tensors(self.space.input_shape))
        return result.val_accuracy, details
