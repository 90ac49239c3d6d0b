"""Features of a network for latency prediction: the architecture's and its tasks' schedules'.

- Architecture (`arch_features`): from the static description of the PyTorch module, whatever
  the space: log FLOPs, parameters, peak activations, layer count, and per layer kind (dense,
  pointwise and depthwise convolutions by kernel size, linear, normalisation, activations,
  pooling) its count, log FLOPs and log bytes written. Works for any space.
- Task (`task_features`): MetaSchedule's per-store program features (`PerStoreFeature`, 164 per
  buffer store) of the task's unscheduled TIR, pooled by sum / max / mean over its stores, plus
  its estimated FLOPs and the number of trials its records were tuned with. The per-task model
  learns a task's tuned time from these.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np

KINDS = ("conv_dense_1", "conv_dense_3", "conv_dense_5+", "conv_pointwise", "conv_depthwise_3",
         "conv_depthwise_5", "conv_depthwise_7+", "conv_grouped", "linear", "norm", "activation",
         "gate", "pool", "attention", "other")
ACTIVATIONS = {"ReLU", "ReLU6", "Hardswish", "GELU", "SiLU", "Tanh", "Sigmoid", "LeakyReLU"}
GATES = {"Hardsigmoid", "Softmax"}
ARCH_FEATURES = ("log_flops", "log_params", "log_peak_activation_bytes", "layers", "log_bytes_written") + tuple(
    f"{kind}.{what}" for kind in KINDS for what in ("count", "log_flops", "log_bytes"))
POOLINGS = ("sum", "max", "mean")
PER_STORE = 164


def layer_kind(layer) -> str:
    op = layer.op
    if op == "Conv2d":
        k = max(layer.kernel or (1,))
        channels_in = layer.input_shape[1] if len(layer.input_shape) > 1 else 1
        if layer.groups and layer.groups > 1:
            if layer.groups == channels_in:
                return "conv_depthwise_3" if k <= 3 else "conv_depthwise_5" if k <= 5 else "conv_depthwise_7+"
            return "conv_grouped"
        if k == 1:
            return "conv_pointwise" if layer.output_shape[-1] > 1 else "conv_dense_1"
        return "conv_dense_3" if k <= 3 else "conv_dense_5+"
    if op == "Linear":
        return "linear"
    if "Norm" in op:
        return "norm"
    if op in ACTIVATIONS:
        return "activation"
    if op in GATES:
        return "gate"
    if "Pool" in op:
        return "pool"
    if "Attention" in op:
        return "attention"
    return "other"


def _log(x: float) -> float:
    return math.log(x + 1.0)


def arch_features(description) -> np.ndarray:
    """One vector per network (`nacos.spaces.describe.Description`), in ARCH_FEATURES order."""
    per_kind = {k: [0.0, 0.0, 0.0] for k in KINDS}
    written = 0
    for layer in description.layers:
        out_bytes = 4 * math.prod(layer.output_shape) if layer.output_shape else 0
        written += out_bytes
        counts = per_kind[layer_kind(layer)]
        counts[0] += 1
        counts[1] += layer.flops
        counts[2] += out_bytes
    values = [_log(description.flops), _log(description.params), _log(description.peak_activation_bytes),
              float(len(description.layers)), _log(written)]
    for kind in KINDS:
        count, flops, out_bytes = per_kind[kind]
        values += [count, _log(flops), _log(out_bytes)]
    return np.asarray(values, dtype=np.float64)


def task_feature_names() -> list[str]:
    return ([f"{p}.{i}" for p in POOLINGS for i in range(PER_STORE)]
            + ["stores", "log_flops", "log_trials"])


@lru_cache(maxsize=4096)
def _program_features(prim_func_json: str, target_json: str) -> tuple[float, ...]:
    """Pooled per-store features and log FLOPs of an unscheduled task (cached by its TIR)."""
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.analysis import estimate_tir_flops
    from tvm.s_tir.schedule import Schedule

    from ..builder import bare_intrinsics_package

    bare_intrinsics_package()  # else the first TuneContext parses every tensor intrinsic (30 s and more)
    mod = tvm.ir.load_json(prim_func_json)
    target = tvm.target.Target(json.loads(target_json))
    context = ms.TuneContext(mod=mod, target=target, task_name="features")
    stores = ms.feature_extractor.PerStoreFeature().extract_from(context, [ms.MeasureCandidate(Schedule(mod), [])])
    matrix = stores[0].numpy().astype(np.float64)
    if matrix.size == 0:
        matrix = np.zeros((1, PER_STORE))
    try:
        flops = float(estimate_tir_flops(mod))
    except Exception:  # noqa: BLE001 - TVM cannot count some ops; the store features still describe them
        flops = 0.0
    pooled = np.concatenate([matrix.sum(0), matrix.max(0), matrix.mean(0)])
    return tuple(pooled.tolist()) + (float(len(matrix)), _log(flops))


def task_features(task, target_dict: dict, trials: int) -> np.ndarray:
    """Features of one task for the per-task model (`trials`: how long it is or will be tuned).

    `task`: a PrimFunc module, or anything with `prim_func_json` (a cached task) or `prim_func_mod`.
    """
    import tvm

    text = getattr(task, "prim_func_json", None)
    if text is None:
        text = tvm.ir.save_json(getattr(task, "prim_func_mod", task))
    program = _program_features(text, json.dumps(target_dict, sort_keys=True))
    return np.asarray(program + (_log(trials),), dtype=np.float64)
