"""MBConv space (MobileNetV2 / ProxylessNAS family), sized for small grey images.

A stride-2 stem, four stages of inverted-residual blocks and a 1x1 head. Decisions: a global
width multiplier; per stage its depth and activation (ReLU or h-swish, as in MobileNetV3); per
block its kernel (3/5/7), expansion (1/3/6), squeeze-excitation and skip connection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Choose, Decision, Space
from .skips import SKIP_TYPES, Skip, skip_choices, skip_out_channels

ACTIVATIONS = {"relu": nn.ReLU, "hswish": nn.Hardswish}


def conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: str | None = None):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def scale_channels(channels: int, width: float) -> int:
    """Channels times the width multiplier, rounded to a multiple of 4 (at least 4)."""
    return max(4, int(channels * width + 2) // 4 * 4)


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al.; MobileNetV3's form with a hard sigmoid)."""

    def __init__(self, channels: int):
        super().__init__()
        reduced = max(4, channels // 4)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, reduced, 1), nn.ReLU(),
                                  nn.Conv2d(reduced, channels, 1), nn.Hardsigmoid())

    def forward(self, x):
        return x * self.gate(x)


class MBConvBlock(nn.Sequential):
    """1x1 expansion (unless 1), kxk depthwise, optional squeeze-excitation, linear 1x1 projection."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, se: bool, act: str):
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn_act(cin, hidden, 1, act=act)]
        layers.append(conv_bn_act(hidden, hidden, kernel, stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(conv_bn_act(hidden, cout, 1))
        super().__init__(*layers)


class PooledClassifier(nn.Module):
    def __init__(self, features: nn.Module, channels: int, num_classes: int):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@dataclass(frozen=True)
class BlockPlan:
    cin: int
    cout: int
    kernel: int
    stride: int
    expand: int
    se: bool
    act: str
    skip: str

    def module(self) -> nn.Module:
        body = MBConvBlock(self.cin, self.cout, self.kernel, self.stride, self.expand, self.se, self.act)
        return Skip(body, self.skip)


def mbconv_stage(choose: Choose, prefix: str, cin: int, cout: int, first_stride: int, depth: int, act: str,
                 kernels=(3, 5, 7), expansions=(1, 3, 6), se_choices=(False, True)) -> list[BlockPlan]:
    """The blocks of one stage, asking per block kernel, expansion, SE and skip."""
    blocks = []
    for b in range(depth):
        stride = first_stride if b == 0 else 1
        name = f"{prefix}.b{b}."
        kernel = choose(Decision(name + "kernel", kernels))
        expand = choose(Decision(name + "expand", expansions))
        se = choose(Decision(name + "se", se_choices))
        skip = choose(Decision(name + "skip", skip_choices(stride, cin, cout)))
        blocks.append(BlockPlan(cin, cout, kernel, stride, expand, se, act, skip))
        cin = skip_out_channels(skip, cin, cout)
    return blocks


@dataclass(frozen=True)
class MBConvPlan:
    stem: int
    stem_act: str
    blocks: tuple[BlockPlan, ...]
    head_in: int
    head: int
    head_act: str


class MBConvSpace(Space):
    name = "mbconv"
    title = "MBConv stages (MobileNetV2 / ProxylessNAS): depth, width, kernel, expansion, SE, activation, skips"

    STEM, HEAD = 16, 96
    STAGES = ((16, 1), (24, 2), (32, 2), (64, 1))  # base channels, stride of the first block
    WIDTHS = (0.5, 0.75, 1.0)
    DEPTHS = (1, 2, 3)
    KERNELS = (3, 5, 7)
    EXPANSIONS = (1, 3, 6)
    ACTS = ("relu", "hswish")

    def __init__(self, input_shape: tuple[int, ...] = (1, 1, 28, 28), num_classes: int = 10):
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes

    def plan(self, choose: Choose, input_shape: tuple[int, ...]) -> MBConvPlan:
        width = choose(Decision("width", self.WIDTHS))
        cin = stem = scale_channels(self.STEM, width)
        blocks: list[BlockPlan] = []
        acts = []
        for s, (base, first_stride) in enumerate(self.STAGES):
            depth = choose(Decision(f"s{s}.depth", self.DEPTHS))
            acts.append(choose(Decision(f"s{s}.act", self.ACTS)))
            stage = mbconv_stage(choose, f"s{s}", cin, scale_channels(base, width), first_stride, depth, acts[-1],
                                 self.KERNELS, self.EXPANSIONS)
            blocks += stage
            cin = skip_out_channels(stage[-1].skip, stage[-1].cin, stage[-1].cout)
        return MBConvPlan(stem, acts[0], tuple(blocks), cin, scale_channels(self.HEAD, width), acts[-1])

    def assemble(self, plan: MBConvPlan, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        features = nn.Sequential(conv_bn_act(input_shape[1], plan.stem, 3, 2, act=plan.stem_act),
                                 *[block.module() for block in plan.blocks],
                                 conv_bn_act(plan.head_in, plan.head, 1, act=plan.head_act))
        return PooledClassifier(features, plan.head, num_classes)

    def all_decisions(self) -> list[Decision]:
        decisions = [Decision("width", self.WIDTHS)]
        for s, (_, first_stride) in enumerate(self.STAGES):
            decisions += [Decision(f"s{s}.depth", self.DEPTHS), Decision(f"s{s}.act", self.ACTS)]
            for b in range(max(self.DEPTHS)):
                name = f"s{s}.b{b}."
                decisions += [Decision(name + "kernel", self.KERNELS), Decision(name + "expand", self.EXPANSIONS),
                              Decision(name + "se", (False, True))]
                if b > 0 or first_stride == 1:
                    decisions.append(Decision(name + "skip", SKIP_TYPES))
        return decisions
