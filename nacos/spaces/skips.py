"""Skip connections as decisions: per block none, add or concat, where the shapes allow.

Position and count of the skips follow from the per-block choices. `add` needs the block to keep
its input shape (stride 1, same channels); `concat` needs only the same spatial size and makes
the block's output `cin + cout` channels wide, which the next block takes as its input.
"""

from __future__ import annotations

import torch
from torch import nn

SKIP_TYPES = ("none", "add", "concat")


def skip_choices(stride: int, cin: int, cout: int) -> tuple[str, ...]:
    if stride != 1:
        return ("none",)
    return SKIP_TYPES if cin == cout else ("none", "concat")


def skip_out_channels(skip: str, cin: int, cout: int) -> int:
    return cin + cout if skip == "concat" else cout


class Skip(nn.Module):
    """A block with its skip connection."""

    def __init__(self, body: nn.Module, kind: str):
        super().__init__()
        self.body = body
        self.kind = kind

    def forward(self, x):
        if self.kind == "add":
            return x + self.body(x)
        if self.kind == "concat":
            return torch.cat([x, self.body(x)], dim=1)
        return self.body(x)
