"""NAS-Bench-201 cell space (Dong & Yang, ICLR 2020), with its string form and macro skeleton.

A cell is a 4-node DAG; each of its 6 edges j->i (j < i) applies one of 5 operations and node i
sums its incoming edges. The standard string lists, per node 1..3, the op of each incoming edge:
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`. The network is NAS-Bench-201's CIFAR skeleton: a 3x3
stem conv with C channels, three stages of N cells at C, 2C, 4C channels with residual
reduction blocks between them, then batch-norm + ReLU, global pooling and a classifier. Ops
follow the benchmark's code (ReLU-conv-BN convolutions, average pooling that does not count
padding, `none` as a multiplication by zero), so the networks line up with its measurements.
"""

from __future__ import annotations

import re

from torch import nn

from ..errors import NacosError
from .base import Choose, Decision, Genotype, Space

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node), string order
EDGE_NAMES = tuple(f"{to}<-{src}" for to, src in EDGES)
_NODE = re.compile(r"\|([a-z_0-9]+)~(\d+)")


def parse_arch(arch: str) -> tuple[str, ...]:
    """The six edge ops of a NAS-Bench-201 string, in string order; NacosError if malformed."""
    groups = arch.split("+")
    if len(groups) != 3:
        raise NacosError(f"NAS-Bench-201 string '{arch}' must have 3 node groups joined by '+'")
    ops = []
    for node, group in enumerate(groups, start=1):
        edges = _NODE.findall(group)
        if "".join(f"|{op}~{src}" for op, src in edges) + "|" != group \
                or [int(src) for _, src in edges] != list(range(node)):
            raise NacosError(f"node {node} of NAS-Bench-201 string '{arch}' is '{group}'; expected "
                             + "".join(f"|OP~{src}" for src in range(node)) + "|")
        for op, _ in edges:
            if op not in OPS:
                raise NacosError(f"unknown NAS-Bench-201 op '{op}' in '{arch}'; ops: {', '.join(OPS)}")
            ops.append(op)
    return tuple(ops)


def arch_string(ops) -> str:
    """The NAS-Bench-201 string of six edge ops given in string order."""
    ops = list(ops)
    groups, first = [], 0
    for node in (1, 2, 3):
        groups.append("|" + "|".join(f"{ops[first + src]}~{src}" for src in range(node)) + "|")
        first += node
    return "+".join(groups)


def is_disconnected(arch: str) -> bool:
    """True when no path of non-`none` edges leads from the cell's input to its output.

    Such a cell outputs zeros whatever its input; the network's measured latency is then
    meaningless (and its accuracy chance), so predictors and searches drop these architectures.
    """
    reached = {0}
    for (to, src), op in zip(EDGES, parse_arch(arch)):
        if op != "none" and src in reached:
            reached.add(to)
    return 3 not in reached


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


class Zero(nn.Module):
    """The `none` op as the benchmark implements it: the input times zero."""

    def forward(self, x):
        return x.mul(0.0)


def make_op(op: str, channels: int) -> nn.Module:
    return {"none": Zero, "skip_connect": nn.Identity,
            "nor_conv_1x1": lambda: ReLUConvBN(channels, channels, 1, 1),
            "nor_conv_3x3": lambda: ReLUConvBN(channels, channels, 3, 1),
            "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False)}[op]()


class Cell(nn.Module):
    def __init__(self, ops: tuple[str, ...], channels: int):
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in ops)

    def forward(self, x):
        nodes = [x]
        for to in (1, 2, 3):
            incoming = [self.edges[e](nodes[src]) for e, (dst, src) in enumerate(EDGES) if dst == to]
            total = incoming[0]
            for feature in incoming[1:]:
                total = total + feature
            nodes.append(total)
        return nodes[3]


class ResidualReduction(nn.Module):
    """NAS-Bench-201's ResNet basic block with stride 2 between stages."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, ops: tuple[str, ...], in_channels: int, channels: int, cells_per_stage: int, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
        for stage in range(3):
            width = channels * 2 ** stage
            if stage > 0:
                layers.append(ResidualReduction(width // 2, width))
            layers += [Cell(ops, width) for _ in range(cells_per_stage)]
        layers += [nn.BatchNorm2d(width), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class NB201Space(Space):
    name = "nb201"
    title = "NAS-Bench-201 cell: 6 edges x 5 ops in the benchmark's CIFAR skeleton"

    def __init__(self, cells_per_stage: int = 5, channels: int = 16,
                 input_shape: tuple[int, ...] = (1, 3, 32, 32), num_classes: int = 10):
        self.cells_per_stage = cells_per_stage
        self.channels = channels
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes

    def plan(self, choose: Choose, input_shape: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(choose(Decision(name, OPS)) for name in EDGE_NAMES)

    def assemble(self, plan: tuple[str, ...], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return NB201Network(plan, input_shape[1], self.channels, self.cells_per_stage, num_classes)

    def all_decisions(self) -> list[Decision]:
        return [Decision(name, OPS) for name in EDGE_NAMES]

    def genotype(self, arch: str) -> Genotype:
        """The genotype of a NAS-Bench-201 string."""
        return Genotype(self.name, tuple(zip(EDGE_NAMES, parse_arch(arch))))

    def arch(self, genotype: Genotype) -> str:
        """The NAS-Bench-201 string of a genotype."""
        values = self.validate(genotype).values()
        return arch_string(values[name] for name in EDGE_NAMES)

    def summary(self, genotype: Genotype) -> str:
        return self.arch(genotype)
