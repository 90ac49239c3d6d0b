"""The study store (SQLite) and the Pareto tools the search keeps its population with."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nacos.errors import NacosError
from nacos.search.pareto import crowding_distance, dominates, hypervolume, non_dominated_sort, pareto_front
from nacos.search.store import StudyStore
from nacos.spaces import get_space
from nacos.spaces.lowering import distinct_samples

# ------------------------------------------------------------------ Pareto


def brute_force_front(points):
    return sorted(i for i, p in enumerate(points) if not any(dominates(q, p) for q in points))


def test_fronts_match_brute_force_and_partition():
    rng = np.random.default_rng(0)
    points = [(float(a), float(b)) for a, b in zip(rng.random(60).round(2), rng.random(60).round(2))]
    fronts = non_dominated_sort(points)
    assert fronts[0] == brute_force_front(points) == pareto_front(points)
    assert sorted(i for f in fronts for i in f) == list(range(60))
    for better, worse in zip(fronts, fronts[1:]):  # every point of a later front is dominated by an earlier one
        assert all(any(dominates(points[i], points[j]) for i in better) for j in worse)


def test_hypervolume_of_known_staircase():
    # accuracy up, latency down; reference (0.5 accuracy, 10 ms)
    front = [(0.9, 8.0), (0.8, 4.0), (0.7, 2.0)]
    # strips: 0.7 over [2,10] = 0.2*8, +0.1 over [4,10] = 0.1*6, +0.1 over [8,10] = 0.1*2
    assert hypervolume(front, (0.5, 10.0)) == pytest.approx(0.2 * 8 + 0.1 * 6 + 0.1 * 2)
    dominated = front + [(0.6, 5.0), (0.95, 12.0), (0.4, 1.0)]  # dominated or outside the box
    assert hypervolume(dominated, (0.5, 10.0)) == pytest.approx(hypervolume(front, (0.5, 10.0)))
    assert hypervolume([], (0.5, 10.0)) == 0.0


def test_crowding_distance_keeps_the_ends():
    points = [(0.9, 8.0), (0.8, 4.0), (0.75, 3.5), (0.7, 2.0)]
    distance = crowding_distance(points, [0, 1, 2, 3])
    assert distance[0] == distance[3] == float("inf")
    assert distance[1] > distance[2]  # 1 lies in a sparser stretch than 2


# ------------------------------------------------------------------ store


@pytest.fixture()
def genotypes():
    return distinct_samples(get_space("nb201"), 5, seed=1)


def test_candidates_estimates_and_generations_round_trip(tmp_path, genotypes):
    store = StudyStore(tmp_path / "study.db")
    store.set_settings({"space": "nb201", "budget_s": 60})
    first = store.add_candidate(genotypes[0], 0, "sample")
    child = store.add_candidate(genotypes[1], 1, "mutation", parents=(first.key,))
    assert store.add_candidate(genotypes[0], 3, "crossover") == first  # once only
    store.add_estimate(first, "accuracy", "train", 0.81, 12.5, details={"epochs": 2})
    store.add_estimate(first, "latency", "predicted", 3.2, 0.01, uncertainty=0.4)
    store.add_estimate(first, "latency", "measured", 3.0, 40.0)
    store.add_tuning(first, tasks=20, tasks_from_store=15, trials=80, seconds=70.0)
    store.add_tuning(child, tasks=20, tasks_from_store=20, trials=0, seconds=1.0)
    store.close_generation(0, [first.key], 0.12, (0.1, 50.0), [first.key, child.key], 100.0, 80)
    store.close()

    again = StudyStore(tmp_path / "study.db")
    assert again.settings() == {"schema_version": 2, "space": "nb201", "budget_s": 60}
    assert set(again.values("latency", "measured")) == {first.key} and again.values("latency", "nope") == {}
    assert again.values("accuracy", "train")[first.key].value == 0.81
    assert again.measuring_seconds() == 71.0
    again.add_decision(child, "measure", "skip", "dominated", {"gain": 0.0})
    assert again.decisions() == [{"key": child.key, "stage": "measure", "action": "skip", "reason": "dominated",
                                  "details": {"gain": 0.0}}]
    assert again.decisions(first) == []
    assert [c.key for c in again.candidates()] == [first.key, child.key]
    assert again.candidate(child.key).parents == (first.key,) and again.candidate(child.key).genotype == genotypes[1]
    latency = again.estimates(again.candidate(first.key), "latency")
    assert set(latency) == {"predicted", "measured"} and latency["predicted"].uncertainty == 0.4
    assert again.estimate(first, "accuracy", "train").details == {"epochs": 2}
    assert again.tuning(first)["tasks_from_store"] == 15 and again.trials_spent() == 80
    assert again.last_generation()["population"] == [first.key, child.key]


def test_a_failed_transaction_leaves_nothing(tmp_path, genotypes):
    store = StudyStore(tmp_path / "study.db")
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db.execute("INSERT INTO study VALUES ('half', '1')")
            raise RuntimeError("killed between two writes")
    assert store.setting("half") is None


def test_not_a_store_is_one_clear_error(tmp_path):
    bad = tmp_path / "study.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(NacosError, match="not a NACOS study store"):
        StudyStore(bad)


WRITER = textwrap.dedent("""
    import os, sys, time
    from nacos.search.store import StudyStore
    from nacos.spaces import get_space
    from nacos.spaces.lowering import distinct_samples
    store = StudyStore(sys.argv[1])
    for i, g in enumerate(distinct_samples(get_space("nb201"), 40, seed=2)):
        c = store.add_candidate(g, 0, "sample")
        if store.estimate(c, "accuracy", "train") is None:  # resume: done work is not redone
            time.sleep(0.02)  # the "evaluation"
            store.add_estimate(c, "accuracy", "train", i / 100, 0.02, details={"n": i, "pid": os.getpid()})
        print(i, flush=True)
""")


def test_kill_9_loses_no_finished_write_and_resume_redoes_nothing(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    db = tmp_path / "study.db"
    proc = subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True)
    for _ in range(12):  # let it finish about a dozen evaluations, then kill it mid-run
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = StudyStore(db)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    before = {c.key: store.estimate(c, "accuracy", "train") for c in store.candidates()}
    finished = {k: e.details for k, e in before.items() if e is not None}
    assert 12 <= len(finished) < 40 and all(d["pid"] == proc.pid for d in finished.values())
    store.close()

    resumed = subprocess.run([sys.executable, str(script), str(db)], check=True, capture_output=True, text=True, timeout=120)
    assert resumed.stdout.split()[-1] == "39"
    store = StudyStore(db)
    after = {c.key: store.estimate(c, "accuracy", "train").details for c in store.candidates()}
    assert len(after) == 40 and sorted(d["n"] for d in after.values()) == list(range(40))
    assert all(after[k] == d for k, d in finished.items())  # kept, not evaluated again
    assert all(d["pid"] != proc.pid for k, d in after.items() if k not in finished)  # the rest done by the resume
