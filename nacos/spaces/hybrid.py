"""Hybrid convolution + attention space for tiny vision (after HyT-NAS).

A stride-2 stem and convolutional (MBConv) stages, then a patch embedding and attention stages
of pre-norm transformer blocks (multi-head self-attention over the patches, then an MLP). Four
stage slots in all; the switch point, the number of convolutional stages, is itself a decision.
Per convolutional stage: depth, and per block kernel, expansion and skip. The patch size is
chosen among those that tile the feature map into 4 to 64 tokens (a switch point where none
does is not offered). Per attention stage: embedding dim, heads, MLP ratio and depth (a linear
map joins stages of different dims).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import NacosError
from .base import Choose, Decision, Space
from .mbconv import BlockPlan, conv_bn_act, mbconv_stage
from .skips import SKIP_TYPES, skip_out_channels


class AttentionCore(nn.Module):
    """softmax(q kᵀ / √d) v over (batch, heads, tokens, head dim); a module so it is counted."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.scale = head_dim ** -0.5

    def forward(self, q, k, v):
        return torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1) @ v

    def macs(self, inputs, output) -> int:
        q, k, _ = inputs
        batch, heads, tokens, head_dim = q.shape
        return 2 * batch * heads * tokens * k.shape[-2] * head_dim  # q kᵀ and (attention) v


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim, self.dim = heads, dim // heads, dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.core = AttentionCore(self.head_dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        # Indexing instead of unpacking keeps the module traceable by torch.fx (BN folding).
        qkv = self.qkv(x).reshape(x.shape[0], -1, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = self.core(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(x.shape[0], -1, self.dim))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@dataclass(frozen=True)
class AttentionStagePlan:
    embed: int
    heads: int
    mlp_ratio: int
    depth: int


@dataclass(frozen=True)
class HybridPlan:
    stem: int
    conv_blocks: tuple[BlockPlan, ...]
    conv_out: int
    patch: int
    tokens: int
    attention: tuple[AttentionStagePlan, ...]


class HybridNet(nn.Module):
    def __init__(self, plan: HybridPlan, in_channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.Sequential(conv_bn_act(in_channels, plan.stem, 3, 2, act="hswish"),
                                  *[block.module() for block in plan.conv_blocks])
        dim = plan.attention[0].embed
        self.patch = nn.Conv2d(plan.conv_out, dim, plan.patch, plan.patch)
        self.position = nn.Parameter(0.02 * torch.randn(1, plan.tokens, dim))
        stages: list[nn.Module] = []
        for stage in plan.attention:
            if stage.embed != dim:
                stages.append(nn.Linear(dim, stage.embed))
                dim = stage.embed
            stages += [TransformerBlock(dim, stage.heads, stage.mlp_ratio) for _ in range(stage.depth)]
        self.attention = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x):
        tokens = self.patch(self.conv(x)).flatten(2).transpose(1, 2) + self.position
        return self.classifier(self.norm(self.attention(tokens)).mean(1))


def _halved(size: int) -> int:
    """Output size of a stride-2 convolution with 'same' padding."""
    return (size + 1) // 2


class HybridSpace(Space):
    name = "hybrid"
    title = "Hybrid convolution + attention for tiny vision (HyT-NAS): conv stages, switch point, attention stages"

    STEM = 16
    CONV_STAGES = ((16, 1), (24, 2), (32, 2))  # channels, stride of the first block
    STAGE_SLOTS = 4  # convolutional + attention stages
    SWITCHES = (1, 2, 3)  # how many of the slots are convolutional
    CONV_DEPTHS = (1, 2)
    KERNELS = (3, 5)
    EXPANSIONS = (1, 3, 6)
    PATCHES = (1, 2, 4)
    MIN_TOKENS, MAX_TOKENS = 4, 64
    EMBEDS = (32, 48, 64)
    HEADS = (1, 2, 4)  # each divides each embedding dim
    MLP_RATIOS = (2, 4)
    ATTENTION_DEPTHS = (1, 2)

    def __init__(self, input_shape: tuple[int, ...] = (1, 1, 28, 28), num_classes: int = 10):
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes

    def _patches(self, height: int, width: int) -> tuple[int, ...]:
        return tuple(p for p in self.PATCHES if height % p == 0 and width % p == 0
                     and self.MIN_TOKENS <= (height // p) * (width // p) <= self.MAX_TOKENS)

    def _map_sizes(self, input_shape: tuple[int, ...]) -> dict[int, tuple[int, int]]:
        """Feature-map size after the stem and each possible number of convolutional stages."""
        height, width = _halved(input_shape[2]), _halved(input_shape[3])
        sizes = {}
        for s, (_, first_stride) in enumerate(self.CONV_STAGES[:max(self.SWITCHES)]):
            if first_stride == 2:
                height, width = _halved(height), _halved(width)
            sizes[s + 1] = (height, width)
        return sizes

    def plan(self, choose: Choose, input_shape: tuple[int, ...]) -> HybridPlan:
        sizes = self._map_sizes(input_shape)
        switches = tuple(s for s in self.SWITCHES if self._patches(*sizes[s]))
        if not switches:
            raise NacosError(f"hybrid space: input {'x'.join(map(str, input_shape))} leaves no switch point whose "
                             f"feature map tiles into {self.MIN_TOKENS}..{self.MAX_TOKENS} patches of size "
                             f"{' or '.join(map(str, self.PATCHES))}; use another input shape")
        switch = choose(Decision("switch", switches))
        cin, blocks = self.STEM, []
        for s in range(switch):
            channels, first_stride = self.CONV_STAGES[s]
            depth = choose(Decision(f"c{s}.depth", self.CONV_DEPTHS))
            stage = mbconv_stage(choose, f"c{s}", cin, channels, first_stride, depth, "hswish",
                                 self.KERNELS, self.EXPANSIONS, se_choices=(False,))
            blocks += stage
            cin = skip_out_channels(stage[-1].skip, stage[-1].cin, stage[-1].cout)
        height, width = sizes[switch]
        patch = choose(Decision("patch", self._patches(height, width)))
        stages = []
        for a in range(self.STAGE_SLOTS - switch):
            stages.append(AttentionStagePlan(embed=choose(Decision(f"a{a}.embed", self.EMBEDS)),
                                             heads=choose(Decision(f"a{a}.heads", self.HEADS)),
                                             mlp_ratio=choose(Decision(f"a{a}.mlp_ratio", self.MLP_RATIOS)),
                                             depth=choose(Decision(f"a{a}.depth", self.ATTENTION_DEPTHS))))
        return HybridPlan(self.STEM, tuple(blocks), cin, patch, (height // patch) * (width // patch), tuple(stages))

    def assemble(self, plan: HybridPlan, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return HybridNet(plan, input_shape[1], num_classes)

    def all_decisions(self) -> list[Decision]:
        decisions = [Decision("switch", self.SWITCHES)]
        for s, (_, first_stride) in enumerate(self.CONV_STAGES[:max(self.SWITCHES)]):
            decisions.append(Decision(f"c{s}.depth", self.CONV_DEPTHS))
            for b in range(max(self.CONV_DEPTHS)):
                decisions += [Decision(f"c{s}.b{b}.kernel", self.KERNELS),
                              Decision(f"c{s}.b{b}.expand", self.EXPANSIONS)]
                if b > 0 or first_stride == 1:
                    decisions.append(Decision(f"c{s}.b{b}.skip", SKIP_TYPES))
        decisions.append(Decision("patch", self.PATCHES))
        for a in range(self.STAGE_SLOTS - min(self.SWITCHES)):
            decisions += [Decision(f"a{a}.embed", self.EMBEDS), Decision(f"a{a}.heads", self.HEADS),
                          Decision(f"a{a}.mlp_ratio", self.MLP_RATIOS), Decision(f"a{a}.depth", self.ATTENTION_DEPTHS)]
        return decisions
