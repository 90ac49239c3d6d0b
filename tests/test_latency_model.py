"""The x86 latency model on the shipped measurements: fit, predict a network it did not see, save."""

import json

import numpy as np
import pytest

from nacos.board import load_board
from nacos.homes import SHIPPED_SCHEDULES
from nacos.cli import main
from nacos.costmodel.latency_dataset import read_samples
from nacos.costmodel.latency_model import (LatencyModel, describe_sample, fit_latency_model, sample_tasks,
                                           store_workloads)
from nacos.errors import NacosError

DATA = SHIPPED_SCHEDULES / "x86" / "latency_mbconv.jsonl"


@pytest.fixture(scope="module")
def shipped():
    samples = read_samples(DATA)
    assert len(samples) >= 5, "the shipped x86 data set should hold at least 5 measured networks"
    folder = SHIPPED_SCHEDULES / "x86"
    return samples, folder, store_workloads(folder)


def test_model_predicts_an_unseen_network_and_round_trips(shipped, tmp_path):
    samples, folder, workloads = shipped
    held, fit = samples[-1], samples[:-1]
    model = fit_latency_model(fit, folder, load_board("x86"))
    tasks = sample_tasks(held, workloads)
    description = describe_sample(held)
    known = {t.key: workloads[t.key][1] for t in tasks if workloads[t.key][1] is not None}
    with_store = model.predict(description, tasks, known)
    assert with_store.measured_share > 0.9 and with_store.spread >= 0
    assert 0.5 < with_store.latency_ms / held["latency_ms"] < 2.0
    blind = model.predict(description, tasks, {})
    assert blind.measured_share == 0.0 and 0.2 < blind.latency_ms / held["latency_ms"] < 5.0
    model.save(tmp_path)
    again = LatencyModel.load(tmp_path)
    assert again.predict(description, tasks, known) == with_store  # exactly: XGBoost's UBJSON keeps every bit
    assert again.predict(description, tasks, {}) == blind
    summary = json.loads((tmp_path / "latency_model" / "model.json").read_text())
    assert summary["trained_on"] == len(fit) and summary["format"] == 1


@pytest.mark.slow  # a second full fit; tools/bench_costmodel.py runs the blind mode on every fold
def test_fit_can_hide_every_task_of_a_held_out_network(shipped):
    """The blind benchmark: no workload of the held-out network reaches the task model, even
    those the fitting networks share (they are fitted with their measured times)."""
    samples, folder, workloads = shipped
    held, fit = samples[-1], samples[:-1]
    exclude = frozenset(t["key"] for t in held["tasks"])
    assert exclude & {t["key"] for s in fit for t in s["tasks"]}, "the case needs shared tasks"
    model = fit_latency_model(fit, folder, load_board("x86"), exclude=exclude)
    assert model.task_model.trained_keys and not model.task_model.trained_keys & exclude
    blind = model.predict(describe_sample(held), sample_tasks(held, workloads), {})
    assert 0.2 < blind.latency_ms / held["latency_ms"] < 5.0


def test_task_times_from_the_store_sum_near_the_measured_latency(shipped):
    """Sanity of the labels: weight x best task time adds up to the same order as the network."""
    samples, _, workloads = shipped
    ratios = [sum(t["weight"] * (workloads[t["key"]][1] or 0) for t in s["tasks"]) * 1e3 / s["latency_ms"]
              for s in samples]
    assert 0.3 < float(np.median(ratios)) < 1.5


def test_cli_fit_needs_enough_data_and_eval_needs_a_model(shipped, tmp_path, capsys):
    samples, _, _ = shipped
    few = tmp_path / "few.jsonl"
    few.write_text("".join(json.dumps(s) + "\n" for s in samples[:2]))
    assert main(["costmodel", "fit", "--data", str(few)]) == 2
    assert main(["costmodel", "eval", "--data", str(few), "--schedules", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "at least 4 measured networks" in err[0] and "no latency model" in err[1]
    with pytest.raises(NacosError, match="does not hold"):
        sample_tasks({"key": "x", "tasks": [{"key": "0", "weight": 1}]}, {})
