"""Static features of a NAS-Bench-201 cell: what a latency predictor may know about an architecture.

Only the genotype goes in: the one-hot of the six edge ops, how many edges hold each op (all
of them, since the benchmark's network runs every edge, even those whose result is later
multiplied by zero), how many of them lie on a live input-to-output path, and the FLOPs and
parameters of the whole CIFAR network (C=16, 5 cells per stage, 3 stages), computed in closed
form so that 15,625 architectures take milliseconds rather than building 15,625 modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..spaces.nb201 import EDGES, OPS, parse_arch

CHANNELS = 16
CELLS_PER_STAGE = 5
RESOLUTION = 32
NUM_CLASSES = 10
IN_CHANNELS = 3

FEATURE_NAMES = (
    tuple(f"{to}<-{src}={op}" for to, src in EDGES for op in OPS)
    + tuple(f"count_{op}" for op in OPS)
    + tuple(f"live_{op}" for op in OPS)
    + ("log_flops", "log_params")
)


def _conv_macs_params(cin: int, cout: int, kernel: int, out_resolution: int) -> tuple[int, int]:
    return out_resolution ** 2 * cout * cin * kernel ** 2, cout * cin * kernel ** 2


def network_flops_params(ops: Sequence[str]) -> tuple[int, int]:
    """FLOPs (2 x multiply-accumulates of conv and linear) and parameters (batch-norm included).

    Same conventions as `nacos.spaces.describe`, for NAS-Bench-201's CIFAR skeleton.
    """
    macs, params = _conv_macs_params(IN_CHANNELS, CHANNELS, 3, RESOLUTION)
    params += 2 * CHANNELS  # stem batch-norm
    kernels = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
    for stage in range(3):
        width, resolution = CHANNELS * 2 ** stage, RESOLUTION // 2 ** stage
        if stage > 0:  # residual reduction: conv_a (stride 2), conv_b, avg-pool + 1x1 conv shortcut
            for cin, kernel in ((width // 2, 3), (width, 3), (width // 2, 1)):
                m, p = _conv_macs_params(cin, width, kernel, resolution)
                macs, params = macs + m, params + p
            params += 2 * 2 * width  # batch-norms of conv_a and conv_b
        for op in ops:
            if op in kernels:
                m, p = _conv_macs_params(width, width, kernels[op], resolution)
                macs += CELLS_PER_STAGE * m
                params += CELLS_PER_STAGE * (p + 2 * width)
    width = CHANNELS * 4
    params += 2 * width + width * NUM_CLASSES + NUM_CLASSES  # last batch-norm, classifier
    macs += width * NUM_CLASSES
    return 2 * macs, params


def live_edges(ops: Sequence[str]) -> list[bool]:
    """Per edge: a non-`none` edge on some path from the cell's input to its output."""
    reached_from_input = {0}
    for (to, src), op in zip(EDGES, ops):
        if op != "none" and src in reached_from_input:
            reached_from_input.add(to)
    reaches_output = {3}
    for (to, src), op in reversed(list(zip(EDGES, ops))):
        if op != "none" and to in reaches_output:
            reaches_output.add(src)
    return [op != "none" and src in reached_from_input and to in reaches_output
            for (to, src), op in zip(EDGES, ops)]


def arch_features(archs: Sequence[str]) -> np.ndarray:
    """One row of FEATURE_NAMES per NAS-Bench-201 string; NacosError on a malformed string."""
    rows = np.zeros((len(archs), len(FEATURE_NAMES)), dtype=np.float64)
    one_hot, counts = len(EDGES) * len(OPS), len(OPS)
    for row, arch in zip(rows, archs):
        ops = parse_arch(arch)
        for edge, (op, live) in enumerate(zip(ops, live_edges(ops))):
            k = OPS.index(op)
            row[edge * len(OPS) + k] = 1.0
            row[one_hot + k] += 1.0
            row[one_hot + counts + k] += live
        flops, params = network_flops_params(ops)
        row[-2:] = np.log(flops), np.log(params)
    return rows


def flops(archs: Sequence[str]) -> np.ndarray:
    """FLOPs of each architecture's whole network: the classic latency proxy."""
    return np.array([network_flops_params(parse_arch(a))[0] for a in archs], dtype=np.float64)
