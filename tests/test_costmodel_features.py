"""Latency-model features: architecture features from static descriptions, task program features."""

import numpy as np
import pytest

from nacos.board import load_board
from nacos.costmodel.features import ARCH_FEATURES, KINDS, arch_features, layer_kind, task_feature_names, task_features
from nacos.spaces import get_space
from nacos.spaces.lowering import distinct_samples, lower
from nacos.tasks import extract_tasks


def test_arch_features_count_every_layer_once():
    space = get_space("mbconv")
    for genotype in distinct_samples(space, 3, seed=4):
        d = space.describe(genotype)
        f = dict(zip(ARCH_FEATURES, arch_features(d)))
        assert len(f) == len(ARCH_FEATURES)
        assert sum(f[f"{k}.count"] for k in KINDS) == f["layers"] == len(d.layers)
        assert f["log_flops"] == pytest.approx(np.log(d.flops + 1))
        depthwise = sum(1 for layer in d.layers if layer.op == "Conv2d" and layer.groups > 1)
        assert sum(f[f"{k}.count"] for k in KINDS if k.startswith("conv_depthwise")) == depthwise > 0


def test_layer_kinds_of_nb201_cells():
    space = get_space("nb201")
    genotype = space.genotype("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    kinds = {layer_kind(layer) for layer in space.describe(genotype).layers}
    assert {"conv_dense_3", "conv_pointwise", "pool", "norm", "activation", "linear"} <= kinds


def test_task_features_are_stable_and_tell_tasks_apart():
    board = load_board("x86")
    tasks = extract_tasks(lower(get_space("mbconv"), distinct_samples(get_space("mbconv"), 1, seed=0)[0]).mod,
                          board.target())
    features = [task_features(t.prim_func_mod, board.tvm_target, 16) for t in tasks[:6]]
    assert all(f.shape == (len(task_feature_names()),) and np.isfinite(f).all() for f in features)
    assert np.array_equal(features[0], task_features(tasks[0].prim_func_mod, board.tvm_target, 16))
    assert len({f.tobytes() for f in features}) == len({t.key for t in tasks[:6]})
    more_trials = task_features(tasks[0].prim_func_mod, board.tvm_target, 64)
    assert more_trials[-1] > features[0][-1] and np.array_equal(more_trials[:-1], features[0][:-1])
