"""Transfer of records to workloads the store has never seen: the same network at another input
size takes the tuned schedules of its tasks, refitted, with no trial, and still matches its reference."""

import dataclasses

import numpy as np
import pytest

from nacos import compiler, transfer
from nacos.board import load_board
from nacos.network import load_network
from nacos.records import RecordStore
from nacos.tasks import extract_tasks
from nacos.tuner import tune


@pytest.fixture(scope="module")
def x86():
    return load_board("x86")


def test_refit_tiles_divide_the_new_extent_and_keep_what_fits():
    assert transfer.refit_tiles([4, 2, 8, 2], 128) == [4, 2, 8, 2]  # same extent: unchanged
    for factors, extent in (([4, 2, 8, 2], 96), ([1, 16, 4], 28), ([7, 1, 1, 2], 13), ([3, 5], 1)):
        refit = transfer.refit_tiles(factors, extent)
        assert len(refit) == len(factors) and int(np.prod(refit)) == extent
        assert all(f <= max(g, 1) or i == 0 for i, (f, g) in enumerate(zip(refit, factors)))
    assert transfer.refit_tiles([4, 2, 8, 2], 96) == [3, 2, 8, 2]


def test_a_new_input_size_takes_transferred_schedules_and_matches(tuned_smallnet, models_py, x86):
    root, tuned, _ = tuned_smallnet
    store = RecordStore("x86", root / "schedules")
    net = load_network(f"{models_py}:build_net", [(1, 1, 24, 24)])  # other extents, same operators
    tasks = extract_tasks(net.mod, x86.target())
    assert not any(store.known(t) for t in tasks[:2])  # the convolutions are new to the store
    moved = transfer.transfer(tasks, store.folders, x86.target())
    convs = [t for t in tasks if "conv2d" in t.name]
    assert convs and all(t.key in moved for t in convs)
    assert all(moved[t.key].source != t.key and moved[t.key].distance > 0 for t in convs)
    inputs = net.sample_inputs()
    reference = net.reference(inputs)
    vm = compiler.load_vm(compiler.build(net.mod, x86, store, database=transfer.database(store.database, moved)))
    assert compiler.compare(compiler.run(vm, inputs), reference).ok
    untuned = compiler.load_vm(compiler.build(net.mod, x86, None))
    fast = compiler.time_ms(vm, inputs, repeat=20)["median_ms"]
    slow = compiler.time_ms(untuned, inputs, repeat=20)["median_ms"]
    assert fast < slow  # the transferred schedules are real ones


def test_a_tune_seeded_by_transfer_starts_from_the_transferred_schedules(tuned_smallnet, models_py, x86, tmp_path):
    """Each new task's first trial is its transferred schedule, measured and recorded like any; here
    onto prepacked tasks (weight_prepack), whose kernels read their weights in another shape."""
    from test_tune import FAST

    root, _, _ = tuned_smallnet
    source = RecordStore("x86", root / "schedules")
    packed = dataclasses.replace(x86, weight_prepack=True)
    net = load_network(f"{models_py}:build_net", [(1, 1, 24, 24)])
    tasks = extract_tasks(net.mod, x86.target(), prepack=True)
    moved = transfer.transfer(tasks, source.folders, x86.target())
    assert moved
    store = RecordStore("x86", tmp_path / "schedules")  # empty: every task is new
    settings = dataclasses.replace(FAST, transfer_from=tuple(source.folders))
    result = tune(tasks, packed, store, tmp_path / "run", 12, settings=settings, progress=False)
    assert result.trials_spent <= 12 + FAST.trials_per_iter
    for task in tasks:
        if task.key in moved:
            traces = [str(r.trace) for r in store.records(task)]
            assert str(moved[task.key].trace) in traces  # measured and kept
