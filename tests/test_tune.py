"""Real MetaSchedule tuning of a 4-task network with tiny budgets, record reuse, kill -9 and resume."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nacos import compiler
from nacos.board import load_board
from nacos.network import load_network
from nacos.pipeline import tune_network
from nacos.records import RECORD_FILE, RecordStore
from nacos.tasks import extract_tasks
from nacos.tune_database import TuneDatabase
from nacos.tuner import PLAN_FILE, SearchSettings, tune
from nacos.tasks import unmarked_key

FAST = SearchSettings(trials_per_iter=8, population_size=48, genetic_num_iters=2, init_min_unmeasured=16)
SHAPE = [(1, 1, 16, 16)]


@pytest.fixture(scope="module")
def x86():
    return load_board("x86")


def test_tune_writes_records_and_matches_reference(tuned_smallnet, x86):
    """The session's tune of SmallNet (conftest.py: 32 trials into a fresh store)."""
    root, net, summary = tuned_smallnet
    assert summary["tasks"] == 4 and summary["tasks_tuned_here"] == 4
    assert 24 <= summary["trials_spent"] <= 40
    assert summary["tasks_without_records"] == 0
    assert summary["check"]["ok"] and summary["check"]["max_abs_error"] < 1e-4
    assert summary["latency"]["median_ms"] > 0
    store = RecordStore("x86", root / "schedules")
    tasks = extract_tasks(net.mod, x86.target())
    assert all(store.count(t) >= 1 for t in tasks)
    lines = (root / "schedules" / "x86" / RECORD_FILE).read_text().splitlines()
    assert len(lines) >= summary["trials_spent"] - 4  # a failed build may leave no record
    # the sum of best task times is an estimate of the network, within launch overhead
    est = summary["estimated_latency_ms"]
    assert 0.3 * summary["latency"]["median_ms"] < est < 3 * summary["latency"]["median_ms"]


def test_tuned_build_is_faster_than_untuned(tuned_smallnet, x86):
    root, net, _ = tuned_smallnet
    inputs = net.sample_inputs()
    store = RecordStore("x86", root / "schedules")
    fast = compiler.time_ms(compiler.load_vm(compiler.build(net.mod, x86, store)), inputs, repeat=20)
    slow = compiler.time_ms(compiler.load_vm(compiler.build(net.mod, x86, None)), inputs, repeat=20)
    assert fast["median_ms"] < slow["median_ms"]


def test_kernel_times_split_the_tuned_build(tuned_smallnet, x86):
    """Every task's kernel is found in the network's calls and timed alone, close to its record."""
    from nacos import kernel_times

    root, net, summary = tuned_smallnet
    vm = compiler.load_vm(compiler.build(net.mod, x86, RecordStore("x86", root / "schedules")))
    split = kernel_times.measure(vm, net.sample_inputs(), repeat=10)
    tasks = extract_tasks(net.mod, x86.target())
    assert {t.name for t in tasks} <= set(split.per_kernel_ms)
    assert split.calls >= sum(t.weight for t in tasks) and split.builtin_calls > 0
    assert abs(sum(split.per_kernel_ms.values()) - split.kernels_ms) < 1e-9
    assert split.outside_kernels_ms == split.end_to_end_ms - split.kernels_ms
    # the same kernels, timed alone here and by the tuner: the same order of magnitude
    assert 0.2 * summary["estimated_latency_ms"] < split.kernels_ms < 5 * summary["estimated_latency_ms"]
    again = kernel_times.measure(vm, net.sample_inputs(), repeat=3)  # the hook was removed: no doubled calls
    assert again.calls == split.calls


def test_second_tune_reuses_records(tuned_smallnet, models_py, x86, tmp_path):
    root, _, _ = tuned_smallnet
    before = (root / "schedules" / "x86" / RECORD_FILE).read_text()
    net = load_network(f"{models_py}:build_net", SHAPE)
    again = tune_network(net, x86, tmp_path / "run2", 32, schedules=root / "schedules", repeat=5,
                         progress=False, settings=FAST)
    assert again["tasks_tuned_here"] == 0 and again["tasks_from_store"] == 4
    assert again["trials_spent"] == 0
    assert (root / "schedules" / "x86" / RECORD_FILE).read_text() == before
    assert again["check"]["ok"]


def test_prepacked_build_keys_its_own_tasks_and_matches_reference(tuned_smallnet, models_py, x86, tmp_path):
    """A board with weight_prepack tunes marked tasks (apart from the plain ones in one store) and
    builds them with the weights packed in the layout their schedules read."""
    root, net, _ = tuned_smallnet
    packed_board = dataclasses.replace(x86, weight_prepack=True)
    plain = {t.key for t in extract_tasks(net.mod, x86.target())}
    packed = extract_tasks(net.mod, x86.target(), prepack=True)
    marked = [t for t in packed if t.prim_func_mod["main"].attrs.get("layout_free_buffers")]
    assert marked and plain.isdisjoint(t.key for t in marked)
    assert {unmarked_key(t.prim_func_mod) for t in packed} == plain  # what a warm start leaves out
    store_root = tmp_path / "schedules"
    shutil.copytree(root / "schedules", store_root)  # the plain records are there and must not be used
    summary = tune_network(net, packed_board, tmp_path / "run", 32, schedules=store_root, repeat=10,
                           progress=False, settings=FAST)
    assert summary["tasks_tuned_here"] >= len(marked) and summary["tasks_without_records"] == 0
    assert summary["check"]["ok"]
    # the weights really are packed: the kernels read prepacked weights, whose packing was computed
    # at build time (no call of the packing functions is left in main)
    store = RecordStore("x86", store_root)
    plain_names, plain_main = _tuned_main(net.mod, store, prepack=False)
    names, main = _tuned_main(net.mod, store, prepack=True)
    assert not any(n.endswith("_prepacked") for n in plain_names)
    packed_kernels = [n for n in names if n.endswith("_prepacked")]
    assert len(packed_kernels) >= len([t for t in marked if "conv2d" in t.name])
    assert all(f"call_tir({n}," in main for n in packed_kernels)
    assert "_weight_prepack," not in main


def _tuned_main(mod, store, prepack: bool) -> tuple[list[str], str]:
    """The function names and main's text of the module the VM lowering gets."""
    import tvm

    target = load_board("x86").target()
    with target, store.database, tvm.transform.PassContext(opt_level=3):
        tuned = tvm.transform.Sequential(compiler.tuned_passes(target, prepack))(mod)
    return [gv.name_hint for gv in tuned.functions], tuned["main"].script()


def test_timed_tune_stops_at_its_deadline_and_resumes_with_what_is_owed(models_py, x86, tmp_path):
    net = load_network(f"{models_py}:build_net", SHAPE)
    tasks = extract_tasks(net.mod, x86.target())
    store, run = RecordStore("x86", tmp_path / "schedules"), tmp_path / "run"
    budget_trials, seconds = 100_000, 8.0
    result = tune(tasks, x86, store, run, budget_trials, settings=FAST, progress=False, seconds=seconds)
    # ended by the clock, not the trials: past the deadline by at most the batches in flight
    assert 0 < result.trials_spent < 200 and result.seconds_budget == seconds
    assert seconds <= result.seconds < seconds + 60
    assert any(result.best_seconds[t.key] is not None for t in tasks)
    plan = json.loads((run / PLAN_FILE).read_text())
    assert plan["seconds"] == seconds and plan["seconds_spent"] >= seconds
    measured = sum(store.count(t) for t in tasks)
    assert measured == result.trials_spent
    again = tune(tasks, x86, store, run, budget_trials, settings=FAST, progress=False, seconds=seconds)
    assert again.trials_spent == again.trials_resumed == measured  # no time owed: nothing new
    assert sum(store.count(t) for t in tasks) == measured


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_tune import FAST, SHAPE
from nacos.board import load_board
from nacos.network import load_network
from nacos.records import RecordStore
from nacos.tasks import extract_tasks
from nacos.tuner import tune
board = load_board("x86")
net = load_network({model!r}, SHAPE)
tasks = extract_tasks(net.mod, board.target())
tune(tasks, board, RecordStore("x86", Path({store!r})), Path({run!r}), {budget}, settings=FAST, progress=False)
"""


@pytest.mark.slow  # the merge after a kill is in the default suite: test_record_store_safety, test_search
def test_killed_tune_resumes_without_losing_trials(tmp_path, models_py, x86):
    budget = 48
    store_root, run = tmp_path / "schedules", tmp_path / "run"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), model=f"{models_py}:build_net",
                                store=str(store_root), run=str(run), budget=budget)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = store_root / "x86" / RECORD_FILE
    deadline = time.time() + 240
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) >= 12:
            break
        assert proc.poll() is None, "the tune ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the tuner and its builder/runner workers
    proc.wait()
    plan = json.loads((run / PLAN_FILE).read_text())
    assert len(plan["tasks"]) == 4

    net = load_network(f"{models_py}:build_net", SHAPE)
    tasks = extract_tasks(net.mod, x86.target())
    store = RecordStore("x86", store_root)  # loads despite a possibly torn last line
    private = TuneDatabase(run)  # measured, not merged yet when the kill came: tune() merges them first
    if private.left_over():
        private.merge(store, after_kill=True)
    kept = sum(store.count(t) for t in tasks)
    assert 12 <= kept < budget
    result = tune(tasks, x86, store, run, budget, settings=FAST, progress=False)
    assert json.loads((run / PLAN_FILE).read_text()) == plan  # same plan, same tasks
    assert result.trials_resumed == kept  # every trial measured before the kill counts
    store = RecordStore("x86", store_root)
    total = sum(store.count(t) for t in tasks)
    assert kept < total <= budget + FAST.trials_per_iter  # only the owed trials were spent
    assert result.trials_spent >= total - 4
    vm = compiler.load_vm(compiler.build(net.mod, x86, store))
    inputs = net.sample_inputs()
    out = compiler.run(vm, inputs)
    assert np.max(np.abs(out[0] - net.reference(inputs)[0])) < 1e-4
