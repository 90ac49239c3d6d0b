"""The cost model's warm start: shipped records of other workloads train MetaSchedule's XGBoost
model, and what it learnt ranks the schedules of workloads it never saw."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from nacos.board import load_board
from nacos.homes import SHIPPED_SCHEDULES
from nacos.record_files import mean_seconds
from nacos.records import best_times
from nacos.warm_start import sample_records, warm_xgb

FOLDERS = [SHIPPED_SCHEDULES / "x86"]


@pytest.fixture(scope="module")
def held_out():
    """Five workloads with 16 or more records, spread over the store."""
    eligible = sorted(key for key, (_, n) in best_times(FOLDERS).items() if n >= 16)
    return set(eligible[:: max(1, len(eligible) // 5)][:5])


def test_sample_leaves_out_the_given_workloads_and_keeps_its_caps(held_out):
    samples = sample_records(FOLDERS, exclude=held_out, per_workload=4, most=200)
    assert samples and not held_out & set(samples)
    assert sum(len(records) for _, records in samples.values()) <= 200
    assert all(2 <= len(records) <= 4 for _, records in samples.values())
    assert all(mean_seconds(r.run_secs) is not None for _, records in samples.values() for r in records)


def test_warm_model_ranks_the_schedules_of_unseen_workloads(held_out):
    from tvm.s_tir import meta_schedule as ms

    target = load_board("x86").target()
    model = warm_xgb(FOLDERS, target, exclude=held_out, per_workload=8, most=400)
    assert model is not None and model.data_size >= 100  # enough for XGBModel to predict, not guess
    everything_else = set(best_times(FOLDERS)) - held_out
    tests = sample_records(FOLDERS, exclude=everything_else, per_workload=64, most=1 << 20)
    assert set(tests) == held_out
    rhos = []
    for workload, records in tests.values():
        scores = model.predict(ms.TuneContext(mod=workload.mod, target=target),
                               [r.as_measure_candidate() for r in records])
        rhos.append(spearmanr(scores, [-mean_seconds(r.run_secs) for r in records]).correlation)
    assert np.nanmean(rhos) > 0.25, rhos  # a cold model ranks at random: 0 on average, spread about 0.08 over five
