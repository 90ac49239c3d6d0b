"""Static costs of a built network, measured on the PyTorch module before any compilation.

- FLOPs: 2 × multiply-accumulates of Conv2d, Linear and modules that state their own
  multiply-accumulates (`macs(inputs, output)`, e.g. the attention matmuls). Biases,
  normalisation, activations, pooling and additions are not counted (the usual NAS convention).
- Parameters: every parameter of the module, batch-norm included (it is folded only later).
- Peak activation memory: the most bytes of activations alive at once when the ATen operators
  run in PyTorch's eager order and each tensor is freed after its last use (views share their
  storage; weights and buffers are not activations). Tensors kept for a skip connection count
  until the skip is consumed. A fusing compiler can need less.
- Layers: one entry per call of a leaf module, with shapes, kernel, stride and groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

BYTES_PER_ELEMENT = 4  # float32


@dataclass(frozen=True)
class Layer:
    name: str
    op: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    groups: int | None
    params: int
    flops: int


@dataclass(frozen=True)
class Description:
    flops: int
    params: int
    peak_activation_bytes: int
    layers: tuple[Layer, ...]

    def costs(self) -> dict:
        return {"flops": self.flops, "params": self.params, "peak_activation_bytes": self.peak_activation_bytes}

    def to_json(self) -> dict:
        return {**self.costs(), "layers": [asdict(layer) for layer in self.layers]}


def layer_macs(module, inputs: tuple, output) -> int:
    """Multiply-accumulates of one call of a leaf module (0 for the ops FLOPs leave out)."""
    if isinstance(module, nn.Conv2d):
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * per_output
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if hasattr(module, "macs"):
        return int(module.macs(inputs, output))
    return 0


def _pair(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def describe_module(model, input_shape: Sequence[int]) -> Description:
    """Run one forward pass on zeros with hooks on the leaf modules and a liveness trace."""
    layers: list[Layer] = []

    def hook(name):
        def record(module, inputs, output):
            first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
            layers.append(Layer(
                name=name, op=type(module).__name__,
                input_shape=tuple(first.shape) if first is not None else (),
                output_shape=tuple(output.shape) if isinstance(output, torch.Tensor) else (),
                kernel=_pair(getattr(module, "kernel_size", None)),
                stride=_pair(getattr(module, "stride", None)),
                groups=getattr(module, "groups", None),
                params=sum(p.numel() for p in module.parameters()),
                flops=2 * layer_macs(module, inputs, output)))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if not any(True for _ in m.children())]
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    trace = LivenessTrace()
    try:
        with torch.no_grad():
            x = torch.zeros(tuple(input_shape))
            with trace:
                out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    peak = trace.peak_bytes(inputs=[x], outputs=[out], exclude=weights)
    return Description(flops=sum(layer.flops for layer in layers),
                       params=sum(p.numel() for p in model.parameters()),
                       peak_activation_bytes=peak, layers=tuple(layers))


def _tensors(value) -> list:
    leaves = torch.utils._pytree.tree_flatten(value)[0]
    return [t for t in leaves if isinstance(t, torch.Tensor)]


def _storage(t) -> tuple[int, int]:
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


class LivenessTrace(TorchDispatchMode):
    """Records, per ATen op in execution order, the storages it reads and writes."""

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[list[int], list[tuple[int, int]]]] = []
        self._outputs: list = []  # held so that no storage address is reused during the trace

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.append(([_storage(t)[0] for t in _tensors((args, kwargs))],
                         [_storage(t) for t in _tensors(out)]))
        self._outputs.append(out)
        return out

    def peak_bytes(self, inputs: list, outputs, exclude: set[int]) -> int:
        """Sweep over the ops: a storage is alive from the op that writes it to its last reader."""
        size, born, last_use = {}, {}, {}
        for ptr, nbytes in (_storage(t) for t in inputs):
            size[ptr], born[ptr], last_use[ptr] = nbytes, 0, 0
        for step, (reads, writes) in enumerate(self.ops):
            for ptr, nbytes in writes:
                if ptr not in born:
                    size[ptr], born[ptr] = nbytes, step
                last_use[ptr] = step
            for ptr in reads:
                if ptr in born:
                    last_use[ptr] = step
        for t in _tensors(outputs):
            last_use[_storage(t)[0]] = len(self.ops)
        change = [0] * (len(self.ops) + 2)
        for ptr in born:
            if ptr not in exclude:
                change[born[ptr]] += size[ptr]
                change[last_use[ptr] + 1] -= size[ptr]
        alive = peak = 0
        for delta in change:
            alive += delta
            peak = max(peak, alive)
        return peak
