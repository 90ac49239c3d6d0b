"""Zero-cost proxies: scores of a network at initialisation that correlate with trained accuracy.

- synflow (Tanaka et al. 2020; Abdelfattah et al. 2021): sum over weights of |θ · ∂R/∂θ| where R
  is the output sum of the network with all weights made positive, batch-norm reduced to its
  affine part and an all-ones input; data-free. Reported as log, since it spans many decades.
- NASWOT (Mellor et al. 2021): log-determinant of the kernel K = C·Cᵀ + (1−C)·(1−C)ᵀ of the binary
  activation codes C of the ReLU-like units over one minibatch; networks that tell inputs apart
  at initialisation score higher.
- grad-norm (Abdelfattah et al. 2021): sum of the L2 norms of the loss gradients of the weights on
  one minibatch.

Each estimator builds the genotype's network afresh with the space's seeded weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..datasets import Dataset
from ..spaces.base import Genotype, Space
from .base import AccuracyEstimator

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.GELU, nn.SiLU)
PROXY_BATCH = 64


def weighted_layers(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(model: nn.Module, input_shape) -> float:
    model = model.double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
        for p in model.parameters():
            p.abs_()
    model.zero_grad()
    model(torch.ones((1,) + tuple(input_shape[1:]), dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        total = sum(float((m.weight * m.weight.grad).abs().sum()) for m in weighted_layers(model)
                    if m.weight.grad is not None)
    return math.log(total) if total > 0 else float("-inf")


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    codes = []

    def record(module, inputs, output):
        codes.append((inputs[0].detach() > 0).flatten(1).double())

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    c = torch.cat(codes, dim=1)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return sum(float(m.weight.grad.norm()) for m in weighted_layers(model) if m.weight.grad is not None)


class ProxyEstimator(AccuracyEstimator):
    """One zero-cost proxy; the minibatch is a fixed, seeded draw of the training split."""

    is_accuracy = False

    def __init__(self, name: str, space: Space, dataset: Dataset | None, seed: int = 0):
        if name not in PROXIES:
            raise ValueError(f"unknown proxy {name}")
        self.name = name
        self.space = space
        self.num_classes = dataset.num_classes if dataset else space.num_classes
        self.batch = None
        if name != "synflow":
            self.batch = dataset.train.subset(PROXY_BATCH, seed).tensors(space.input_shape)

    def _value(self, genotype: Genotype) -> tuple[float, dict]:
        model = self.space.build(genotype, num_classes=self.num_classes)
        if self.name == "synflow":
            return synflow(model, self.space.input_shape), {}
        x, y = self.batch
        if self.name == "naswot":
            return naswot(model, x), {"batch": len(y)}
        return grad_norm(model, x, y), {"batch": len(y)}


PROXIES = ("synflow", "naswot", "grad_norm")
