"""Built-in networks (random weights, plain PyTorch): the demo network and the benchmark network.

No weights are downloaded; latency does not depend on the weight values.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import NacosError


def _conv_bn_act(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, kxk depthwise, 1x1 project, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, kernel: int = 3):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [_conv_bn_act(cin, hidden, 1)]
        layers += [_conv_bn_act(hidden, hidden, kernel, stride, groups=hidden),
                   _conv_bn_act(hidden, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) with a width multiplier."""

    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # expansion, channels, repeats, first stride

    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        cin = _make_divisible(32 * width)
        last = _make_divisible(1280 * max(1.0, width))
        layers = [_conv_bn_act(in_channels, cin, 3, 2)]
        for t, c, n, s in self.SETTINGS:
            cout = _make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(_conv_bn_act(cin, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class TinyCNN(nn.Module):
    """The demo network: a 28x28 grey-image classifier small enough to tune in a minute."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(_conv_bn_act(1, 16, 3, 2), InvertedResidual(16, 24, 2, 3),
                                      InvertedResidual(24, 24, 1, 3))
        self.classifier = nn.Linear(24, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


BUILTINS = {
    "tiny-cnn": (lambda: TinyCNN(), (1, 1, 28, 28)),
    "mobilenet_v2": (lambda: MobileNetV2(1.0), (1, 3, 224, 224)),
    "mobilenet_v2_0.5": (lambda: MobileNetV2(0.5), (1, 3, 224, 224)),
}


def calibrate_batchnorm(model: nn.Module, input_shape: tuple[int, ...], batches: int = 2, seed: int = 0) -> nn.Module:
    """Set every BN's running statistics from random inputs, then switch to eval mode.

    With PyTorch's default init and identity BN statistics, a deep network's activations vanish
    (MobileNetV2's features fall to 1e-7): its output is the classifier bias, and comparing a
    build against it checks nothing. Calibrated statistics keep activations near unit scale.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn((max(4, input_shape[0]),) + tuple(input_shape[1:]), generator=gen))
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return model.eval()


def build(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """A built-in network with deterministic random weights, and its default input shape."""
    if name not in BUILTINS:
        raise NacosError(f"unknown built-in model '{name}'; built-ins: {', '.join(BUILTINS)}")
    factory, shape = BUILTINS[name]
    torch.manual_seed(seed)
    return calibrate_batchnorm(factory(), shape, seed=seed), shape
