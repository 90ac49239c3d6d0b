"""Search spaces: architectures as plain genotypes, built into PyTorch and lowered to TVM.

`get_space(name)` gives a registered space with its default input shape and class count.
The spaces are imported when asked for, so that importing this package (the CLI does) does
not import torch.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import NacosError
from .base import Decision, Genotype, Space


def _mbconv() -> Space:
    from .mbconv import MBConvSpace

    return MBConvSpace()


def _hybrid() -> Space:
    from .hybrid import HybridSpace

    return HybridSpace()


def _nb201() -> Space:
    from .nb201 import NB201Space

    return NB201Space()


def _grassroots() -> Space:
    """An untrained MobileNetV2 (width 0.5) on 28x28 grey images with 10 classes as the model."""
    from .. import zoo
    from .grassroots import GrassrootsSpace

    return GrassrootsSpace(lambda: zoo.MobileNetV2(0.5, num_classes=10, in_channels=1), (1, 1, 28, 28),
                           name="grassroots", calibrate_batchnorm=True)


SPACES: dict[str, Callable[[], Space]] = {"mbconv": _mbconv, "hybrid": _hybrid, "nb201": _nb201,
                                          "grassroots": _grassroots}


def get_space(name: str) -> Space:
    if name not in SPACES:
        raise NacosError(f"unknown search space '{name}'; spaces: {', '.join(SPACES)}")
    return SPACES[name]()


__all__ = ["SPACES", "Decision", "Genotype", "Space", "get_space"]
