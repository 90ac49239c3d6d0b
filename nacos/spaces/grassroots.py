"""Operator replacement on an existing model (after Grassroots Operator Search).

Given a PyTorch model, each replaceable convolution is kept or swapped for a cheaper
equivalent with the same input and output shapes: depthwise-separable, grouped (2 or 4 groups),
low-rank bottleneck (a kxk convolution to rank = channels/4, then 1x1), or a kernel smaller by 2
(padding reduced by 1). The genotype maps each convolution's module path to its choice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import NacosError
from .base import Choose, Decision, Space

KEEP = "keep"
OPTIONS = (KEEP, "separable", "group2", "group4", "lowrank", "smaller_kernel")


@dataclass(frozen=True)
class ConvSite:
    """A convolution of the wrapped model and what it could be replaced by."""

    path: str
    cin: int
    cout: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    bias: bool

    @staticmethod
    def of(path: str, conv: nn.Conv2d) -> ConvSite | None:
        """None for convolutions whose padding the replacements could not reproduce."""
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            return None
        return ConvSite(path, conv.in_channels, conv.out_channels, tuple(conv.kernel_size), tuple(conv.stride),
                        tuple(conv.padding), tuple(conv.dilation), conv.groups, conv.bias is not None)

    @property
    def rank(self) -> int:
        return min(self.cin, self.cout) // 4

    def macs_per_pixel(self, option: str) -> int:
        """Multiply-accumulates per output position: the test that a replacement is cheaper."""
        area = self.kernel[0] * self.kernel[1]
        return {
            KEEP: self.cout * self.cin // self.groups * area,
            "separable": self.cin * area + self.cin * self.cout,
            "group2": self.cout * self.cin // 2 * area,
            "group4": self.cout * self.cin // 4 * area,
            "lowrank": self.rank * self.cin * area + self.rank * self.cout,
            "smaller_kernel": self.cout * self.cin // self.groups * (self.kernel[0] - 2) * (self.kernel[1] - 2),
        }[option]

    def options(self) -> tuple[str, ...]:
        dense = self.groups == 1
        fits = {
            KEEP: True,
            "separable": dense and self.kernel != (1, 1),
            "group2": dense and self.cin % 2 == 0 and self.cout % 2 == 0,
            "group4": dense and self.cin % 4 == 0 and self.cout % 4 == 0,
            "lowrank": dense and self.rank >= 1,
            # k-2 with padding-1 keeps the output size only for a square, undilated, 'same'-padded kernel.
            "smaller_kernel": self.kernel[0] == self.kernel[1] >= 3 and self.dilation == (1, 1)
                              and self.padding == (self.kernel[0] // 2,) * 2,
        }
        keep_cost = self.macs_per_pixel(KEEP)
        return tuple(o for o in OPTIONS if fits[o] and (o == KEEP or self.macs_per_pixel(o) < keep_cost))

    def replacement(self, option: str) -> nn.Module:
        k, s, p, d = self.kernel, self.stride, self.padding, self.dilation
        if option == "separable":
            return nn.Sequential(nn.Conv2d(self.cin, self.cin, k, s, p, d, groups=self.cin, bias=False),
                                 nn.Conv2d(self.cin, self.cout, 1, bias=self.bias))
        if option in ("group2", "group4"):
            return nn.Conv2d(self.cin, self.cout, k, s, p, d, groups=int(option[-1]), bias=self.bias)
        if option == "lowrank":
            return nn.Sequential(nn.Conv2d(self.cin, self.rank, k, s, p, d, bias=False),
                                 nn.Conv2d(self.rank, self.cout, 1, bias=self.bias))
        return nn.Conv2d(self.cin, self.cout, k[0] - 2, s, p[0] - 1, groups=self.groups, bias=self.bias)


class GrassrootsSpace(Space):
    """Per-convolution replacement choices for the model that `model_fn` returns."""

    def __init__(self, model_fn: Callable[[], nn.Module], input_shape: tuple[int, ...],
                 name: str | None = None, min_channels: int = 16, calibrate_batchnorm: bool = False):
        """Convolutions are replaceable when their kernel is larger than 1x1 or both their
        channel counts reach `min_channels` (a 1x1 convolution with few channels is cheap already).
        A trained model keeps its batch-norm statistics; calibrate those of an untrained one.
        The name defaults to grassroots-CLASSNAME, so genotypes of different models stay apart.
        """
        self.calibrate_batchnorm = calibrate_batchnorm
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = model_fn().eval()
        self.name = name or f"grassroots-{type(self.model).__name__}"
        self.title = f"operator replacement in {type(self.model).__name__}: keep each convolution or use a cheaper one"
        self.input_shape = tuple(input_shape)
        with torch.no_grad():
            self.num_classes = int(self.model(torch.zeros(self.input_shape)).shape[-1])
        sites = (ConvSite.of(path, m) for path, m in self.model.named_modules() if isinstance(m, nn.Conv2d))
        self.sites = tuple(site for site in sites if site is not None
                           and (site.kernel != (1, 1) or min(site.cin, site.cout) >= min_channels)
                           and len(site.options()) > 1)
        if not self.sites:
            raise NacosError(f"{type(self.model).__name__} has no convolution that a cheaper one could replace")

    def plan(self, choose: Choose, input_shape: tuple[int, ...]) -> dict[str, str]:
        return {site.path: choose(Decision(site.path, site.options())) for site in self.sites}

    def assemble(self, plan: dict[str, str], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        if num_classes != self.num_classes:
            raise NacosError(f"{type(self.model).__name__} has {self.num_classes} classes; "
                             f"operator replacement cannot make it {num_classes}")
        model = copy.deepcopy(self.model)
        for site in self.sites:
            if plan[site.path] != KEEP:
                parent, _, attribute = site.path.rpartition(".")
                setattr(model.get_submodule(parent), attribute, site.replacement(plan[site.path]))
        return model

    def all_decisions(self) -> list[Decision]:
        return [Decision(site.path, site.options()) for site in self.sites]
