"""Small PyTorch models for the tests; also an example of the FILE.py:FUNCTION model form."""

import torch
from torch import nn


class SmallNet(nn.Module):
    """Four tuning tasks: two conv+BN+ReLU, a global mean and a linear classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def build_net():
    torch.manual_seed(0)
    net = SmallNet().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net


class Bessel(nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x)


def build_unsupported():
    return Bessel()


def build_not_a_module():
    return 42
