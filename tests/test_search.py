"""The co-search end to end on tiny budgets: it really tunes and measures, against a record store
that knows most tasks (the shipped store cut to its fastest records), with the shipped latency
model screening; the two-stage baseline; strategies; kill -9 in a measurement, then resume.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nacos.cli import main
from nacos.search.report import write_report

TINY = ["--space", "mbconv", "--dataset", "digits", "--population", "2", "--children", "3", "--evaluate", "1",
        "--trials-per-task", "1", "--train-epochs", "1", "--train-images", "300", "--reference", "0.0,50"]


def rows(db: Path, query: str, args=()) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, args).fetchall()


def finished_rows(db: Path) -> dict:
    return {(c, o, e): (v, t) for c, o, e, v, t in
            rows(db, "SELECT candidate, objective, estimator, value, created FROM estimate "
                     "WHERE estimator IN ('train', 'measured')")}


def test_two_stage_trains_blind_then_measures_its_flops_front(tmp_path, search_schedules, capsys):
    out = tmp_path / "s2"
    assert main(["search", *TINY, "--mode", "two-stage", "--strategy", "random", "--budget", "45s",
                 "--out", str(out), "--schedules", str(search_schedules), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    db = out / "study.db"
    assert result["predicted"] == 0  # compiler-blind: no latency model
    assert result["trained"] >= result["measured"] >= 1 and result["hypervolume"] > 0
    stages = rows(db, "SELECT d.stage, d.action, c.generation, c.origin FROM decision d JOIN candidate c "
                      "ON c.id = d.candidate WHERE d.action = 'measure'")
    assert stages and all(stage == "final" for stage, *_ in stages)  # measured only after the blind part
    assert all(origin == "sample" for *_, origin in rows(db, "SELECT origin FROM candidate"))  # random search
    measured_at = [t for (t,) in rows(db, "SELECT created FROM estimate WHERE estimator = 'measured'")]
    trained_at = [t for (t,) in rows(db, "SELECT created FROM estimate WHERE estimator = 'train'")]
    assert min(measured_at) > max(trained_at)


def test_python_caller_passes_its_own_strategy_and_policy(tmp_path, search_schedules):
    from nacos.search.config import SearchConfig
    from nacos.search.loop import OneStageSearch
    from nacos.search.policy import MeasureAll
    from nacos.search.strategy import get_strategy

    config = SearchConfig(space="mbconv", dataset="digits", population=2, children=3, evaluate_per_generation=1,
                          trials_per_task=1, train_images=300, reference=(0.0, 50.0), budget_seconds=30, seed=2,
                          strategy="regularized")
    search = OneStageSearch(config, tmp_path / "s3", schedules=search_schedules, progress=False,
                            strategy=get_strategy("regularized"), policy=MeasureAll())
    result = search.run()
    assert result["trained"] >= 2 and result["measured"] >= 1
    chosen = [d for d in search.store.decisions() if d["stage"] == "measure"]
    assert len(chosen) == result["trained"]  # MeasureAll: every trained candidate, measured as time allows
    assert all(d["reason"].startswith("every trained candidate is measured") for d in chosen)
    assert all(d["action"] == "measure" or "would outlast the budget" in d["reason"] for d in chosen)
    ages = {c.key: c.id for c in search.store.candidates()}
    kept = search.strategy.population
    trained = set(search.store.values("accuracy", "train"))
    assert kept == sorted(trained, key=lambda k: -ages[k])[:2]  # aging evolution keeps the youngest


def test_one_stage_killed_in_a_measurement_resumes_then_predicts_measures_few_and_reports(tmp_path, search_schedules,
                                                                                          capsys):
    """One search serves both: kill -9 inside its first measurement, `--resume`, nothing finished
    lost or redone; then the finished run is checked as a one-stage search (check_one_stage_run)."""
    out = tmp_path / "s4"
    command = [sys.executable, "-m", "nacos", "search", *TINY, "--budget", "75s", "--seed", "1", "--out", str(out),
               "--schedules", str(search_schedules), "--quiet", "--json"]
    env = {**os.environ, "TVM_NUM_THREADS": "2"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "study.db"
    deadline, started = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:  # kill inside the first measurement
        try:
            started = rows(db, "SELECT d.candidate FROM decision d WHERE d.action = 'measure' AND NOT EXISTS "
                               "(SELECT 1 FROM tuning t WHERE t.candidate = d.candidate)") if db.exists() else []
        except sqlite3.OperationalError:  # the file is there, its tables not yet
            started = []
        if started:
            time.sleep(3)  # well inside: lowering, tuning or building
            break
        time.sleep(0.3)
    assert started, "the search never started a measurement"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = finished_rows(db)
    assert rows(db, "SELECT COUNT(*) FROM tuning WHERE candidate = ?", started[0])[0][0] == 0
    elapsed_at_kill = elapsed(db)
    assert elapsed_at_kill > 0  # the killed run's time counts against the budget

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    after = finished_rows(db)
    assert all(after[k] == v for k, v in before.items())  # kept, and not evaluated again
    assert (started[0][0], "latency", "measured") in after  # the interrupted measurement was finished
    assert rows(db, "SELECT COUNT(*) FROM tuning WHERE candidate = ?", started[0])[0][0] == 1
    assert elapsed(db) >= 75 > elapsed_at_kill
    check_one_stage_run(out, json.loads(resumed.stdout), tmp_path, search_schedules, capsys)


def check_one_stage_run(out: Path, result: dict, tmp_path: Path, search_schedules: Path, capsys) -> None:
    """What a finished one-stage run must show (the resumed run of the kill test)."""
    db = out / "study.db"
    # every candidate screened by FLOPs or the latency model; fewer measured than trained
    static = rows(db, "SELECT COUNT(*) FROM decision WHERE reason LIKE 'screened out before prediction%'")[0][0]
    assert result["predicted"] + static == result["candidates"]
    assert result["predicted"] >= result["trained"] > result["measured"] >= 1
    assert result["hypervolume"] > 0 and result["trials"] >= 1  # it tuned the tasks the store lacked
    assert result["prediction"]["n"] == result["measured"]
    checks = [json.loads(d)["check"]["ok"] for (d,) in rows(db, "SELECT details FROM estimate "
                                                                 "WHERE estimator = 'measured'")]
    assert checks and all(checks)  # the tuned builds match PyTorch
    # each trained candidate after generation 0 was chosen by its screening; each has a
    # measurement decision with a reason, and only 'measure' decisions were measured
    decisions = rows(db, "SELECT c.key, d.stage, d.action, d.reason FROM decision d JOIN candidate c "
                         "ON c.id = d.candidate")
    assert all(reason for *_, reason in decisions)
    measured = {k for (k,) in rows(db, "SELECT c.key FROM estimate e JOIN candidate c ON c.id = e.candidate "
                                       "WHERE e.estimator = 'measured'")}
    chosen = {k for k, stage, action, _ in decisions if action == "measure"}
    assert measured <= chosen
    trained = {k for (k,) in rows(db, "SELECT c.key FROM estimate e JOIN candidate c ON c.id = e.candidate "
                                      "WHERE e.estimator = 'train'")}
    judged = {k for k, stage, *_ in decisions if stage in ("measure", "final")}
    assert trained - judged == set() or all(k in measured for k in trained - judged)
    payload = write_report(out)
    assert {p.name for p in out.iterdir()} >= {"study.db", "pareto.csv", "pareto.json", "pareto.png", "candidates"}
    assert payload["front"] and all(0 <= r["accuracy"] <= 1 and r["latency_ms"] > 0 for r in payload["front"])
    assert payload["trained"] - payload["measured"] >= 1 and payload["decisions"]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    key = payload["front"][0]["key"]
    assert main(["export", str(out), "--pick", key, "--target", "x86", "--out", str(tmp_path / "art"),
                 "--schedules", str(search_schedules)]) == 0
    assert (tmp_path / "art" / "model.so").exists()
    assert main(["export", str(out), "--pick", "nosuchkey", "--target", "x86", "--out", str(tmp_path / "a2")]) == 2
    assert main(["search", *TINY, "--budget", "45s", "--out", str(out), "--quiet"]) == 2
    assert main(["search", *TINY, "--budget", "90s", "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "add --resume" in err[-2] and "other settings" in err[-1]


def elapsed(db: Path) -> float:
    return json.loads(rows(db, "SELECT value FROM study WHERE name = 'elapsed'")[0][0])


@pytest.mark.parametrize("bad, message", [(["--budget", "5x"], "bad --budget"),
                                          (["--budget", "10s"], "too small to evaluate one candidate"),
                                          (["--reference", "2,10"], "bad --reference"),
                                          (["--space", "nosuch"], "nosuch"),
                                          (["--population", "1"], "--population 2 or more")])
def test_bad_search_options_are_one_line_errors(tmp_path, capsys, bad, message):
    assert main(["search", *TINY, *bad, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_unknown_mode_and_strategy_are_one_line_errors():
    from nacos.errors import NacosError
    from nacos.search.config import SearchConfig

    with pytest.raises(NacosError, match="unknown search mode 'both'; modes: one-stage, two-stage"):
        SearchConfig(mode="both").check()
    with pytest.raises(NacosError, match="unknown search strategy 'greedy'"):
        SearchConfig(strategy="greedy").check()


def test_board_without_latency_model_says_it_falls_back_to_flops(tmp_path, capsys):
    from nacos.search.config import SearchConfig
    from nacos.search.loop import OneStageSearch

    search = OneStageSearch(SearchConfig(dataset="digits"), tmp_path / "s", schedules=tmp_path / "empty",
                            progress=False)
    assert search.latency.name == "flops" and not search.latency.compiler_aware
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no latency model" in err[0] and "falls back to FLOPs" in err[0]


def test_report_of_a_folder_without_a_search(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no search" in capsys.readouterr().err
    (tmp_path / "study.db").write_bytes(b"")
    assert main(["report", str(tmp_path)]) == 2
    assert "empty" in capsys.readouterr().err and (tmp_path / "study.db").stat().st_size == 0


def test_front_policy_skips_defers_and_measures_for_its_reasons():
    from dataclasses import replace

    from nacos.search.estimators import Guess
    from nacos.search.pareto import hypervolume
    from nacos.search.policy import WORTH_SHARE, FrontPolicy, Situation

    ref = (0.5, 2.0)
    measured = {"m": (0.80, 0.30)}
    predicted = {"slow": (0.78, 0.60), "sure": (0.85, 0.28), "unsure": (0.83, 0.25), "behind": (0.84, 0.31)}
    guesses = {"slow": Guess(0.60, 0.02, "predicted", {"measured_share": 1.0}),
               "sure": Guess(0.28, 0.02, "predicted", {"measured_share": 0.95}),
               "unsure": Guess(0.25, 0.02, "predicted", {"measured_share": 0.40}),
               "behind": Guess(0.31, 0.02, "predicted", {"measured_share": 1.0})}
    policy = FrontPolicy()
    s = Situation(measured, predicted, guesses, error=0.05, reference=ref)
    assert policy.decide("slow", s).action == "skip"  # 0.6 ms x e^-0.05 is still behind m
    assert policy.decide("sure", s).action == "defer"  # on the front, confidently
    assert policy.decide("unsure", s).action == "measure"  # on the front, 60 % of it untuned
    assert "behind the prediction of sure" in policy.decide("behind", s).reason
    # the error seen so far widens a confident prediction: 'slow' could then reach the front
    wide = Situation(measured, predicted, guesses, error=0.8, reference=ref)
    assert policy.decide("slow", wide).action != "skip"
    key, choice = policy.final_pick(s, cost=lambda k: 10.0)
    assert key in ("sure", "unsure", "behind") and choice.details["gain"] > 0
    # worth it only while the gain per second is a share of what the search earned per second
    rate = choice.details["gain"] / 10.0
    since = WORTH_SHARE * hypervolume(list(measured.values()), ref) / rate  # the search's age where it is
    assert policy.final_pick(replace(s, elapsed=2 * since), lambda k: 10.0)[0] == key  # worth it
    assert policy.final_pick(replace(s, elapsed=since / 2), lambda k: 10.0) is None  # the search earns more
    # a measurement that would outlast the budget is not started; a cheaper member still is
    assert policy.final_pick(s, lambda k: 10.0, seconds_left=9.0) is None
    cheap = policy.final_pick(s, lambda k: 5.0 if k == "unsure" else 10.0, seconds_left=9.0)
    assert cheap[0] == "unsure" and cheap[1].details["seconds"] == 5.0


def test_strategies_propose_new_genotypes_and_keep_their_populations():
    from nacos.search.strategy import get_strategy
    from nacos.spaces import get_space

    space = get_space("mbconv")
    rng = np.random.default_rng(0)
    genotypes = {g.key(): g for g in (space.sample(rng) for _ in range(6))}
    keys = list(genotypes)
    points = {k: (0.5 + 0.05 * i, 0.1 * (i + 1)) for i, k in enumerate(keys)}  # all on one front
    points[keys[0]] = (0.4, 0.9)  # dominated
    ages = {k: i for i, k in enumerate(keys)}
    nsga2 = get_strategy("nsga2", 3)
    assert keys[0] not in nsga2.tell(points, genotypes, ages)
    regularized = get_strategy("regularized", 3)
    assert regularized.tell(points, genotypes, ages) == keys[-1:-4:-1]
    for name in ("nsga2", "regularized", "random"):
        strategy = get_strategy(name, 3)
        strategy.tell(points, genotypes, ages)
        proposals = strategy.propose(space, 5, rng, accept=lambda g: g.key() not in genotypes)
        assert len(proposals) == 5 and len({p.genotype.key() for p in proposals}) == 5
        assert all(p.genotype.key() not in genotypes for p in proposals)
        origins = {p.origin for p in proposals}
        assert origins == {"sample"} if name == "random" else origins <= {"mutation", "crossover"}
        assert all(set(p.parents) <= set(strategy.population) for p in proposals)


def test_constraints_keep_every_candidate_within_limits(tmp_path):
    from nacos.search.config import SearchConfig
    from nacos.search.loop import OneStageSearch
    from nacos.spaces import get_space

    space = get_space("mbconv")
    flops = sorted(space.describe(space.sample(np.random.default_rng(i))).flops for i in range(40))
    limit = flops[len(flops) // 2]  # about half of the space is too heavy
    config = SearchConfig(dataset="digits", population=4, children=12, evaluate_per_generation=1,
                          max_flops=limit, seed=3)
    search = OneStageSearch(config, tmp_path / "s", schedules=tmp_path / "none", progress=False)
    proposals = search.strategy.propose(search.space, 12, search.rng, search.accept)
    assert len(proposals) == 12 and search.rejected > 0
    assert all(space.describe(p.genotype).flops <= limit for p in proposals)
    assert "FLOPs" in config.violation(space.describe(max((space.sample(np.random.default_rng(i)) for i in range(40)),
                                                          key=lambda g: space.describe(g).flops)))
    with pytest.raises(Exception, match="--max-params must be positive"):
        SearchConfig(max_params=0).check()


def test_final_share_starts_by_the_budget_or_the_front_cost_but_never_before_half(tmp_path, monkeypatch):
    from nacos.search.config import SearchConfig
    from nacos.search.loop import OneStageSearch

    search = OneStageSearch(SearchConfig(dataset="digits", budget_seconds=1000, final_share=0.25), tmp_path / "s",
                            schedules=tmp_path / "none", progress=False)
    for front_cost, cases in ((10_000.0, ((100, False), (499, False), (500, True))),  # an expensive front
                              (0.0, ((600, False), (749, False), (750, True)))):  # a measured one
        monkeypatch.setattr(search, "front_cost", lambda c=front_cost: c)
        for elapsed, started in cases:
            monkeypatch.setattr(search, "elapsed", lambda e=elapsed: float(e))
            assert search.final_share_started() is started, (front_cost, elapsed)


def test_training_goes_to_gain_per_expected_second_from_the_start(tmp_path):
    from nacos.search.evaluation import (PRIOR_EXPONENT, expected_training_seconds, relative_training_costs,
                                         training_cost_exponent)
    from nacos.search.loop import cost_weight, training_order
    from nacos.search.store import StudyStore
    from nacos.spaces import get_space

    space, rng = get_space("mbconv"), np.random.default_rng(0)
    genotypes = iter({g.key(): g for g in (space.sample(rng) for _ in range(40))}.values())
    (tmp_path / "s").mkdir()
    store = StudyStore.of_run(tmp_path / "s", create=True)
    assert expected_training_seconds(store, 1e6) is None  # nothing trained yet
    big, small, cheap_and_useless = (store.add_candidate(next(genotypes), 1, "mutation") for _ in range(3))
    gains = {big.key: 0.012, small.key: 0.004, cheap_and_useless.key: 0.0}
    flops = {big.key: 10e6, small.key: 1e6, cheap_and_useless.key: 0.2e6}
    # before any training the costs are only relative (a power of FLOPs), and already decide:
    # three times the gain for ten times the FLOPs is not worth it
    before = relative_training_costs(store, flops)
    assert before[big.key] / before[small.key] == pytest.approx(10 ** PRIOR_EXPONENT)
    assert [c.key for c in training_order([big, small, cheap_and_useless], gains, before)] == \
        [small.key, big.key, cheap_and_useless.key]
    # trainings clustered in FLOPs say nothing of the slope: the prior exponent stays
    clustered = [(4.5e6, 15.8), (4.6e6, 36.8), (4.2e6, 22.1)]
    assert training_cost_exponent(clustered) == PRIOR_EXPONENT
    assert training_cost_exponent([(f * 10, s) for f, s in clustered] + clustered) >= 0.5  # never flat
    for n, (f, seconds) in enumerate(((0.2e6, 3.0), (1e6, 5.0), (10e6, 30.0), (5e6, 16.0))):
        c = store.add_candidate(next(genotypes), 0, "random")
        store.add_estimate(c, "latency", "flops", f, 0.0)
        store.add_estimate(c, "accuracy", "train", 0.7, seconds)
    # through the four: seconds grow as FLOPs^0.59, 30 s at 10 MFLOPs, 3 s at 0.2
    assert training_cost_exponent([(0.2e6, 3.0), (1e6, 5.0), (10e6, 30.0), (5e6, 16.0)]) == pytest.approx(0.59, abs=0.03)
    assert expected_training_seconds(store, 10e6) == pytest.approx(30, rel=0.2)
    assert expected_training_seconds(store, 0.2e6) == pytest.approx(3, rel=0.3)
    after = relative_training_costs(store, flops)
    assert after[big.key] == pytest.approx(expected_training_seconds(store, 10e6))
    assert [c.key for c in training_order([big, small, cheap_and_useless], gains, after)] == \
        [small.key, big.key, cheap_and_useless.key]
    # the cost cools with the budget: by its end gain alone decides, and the big one goes first
    assert (cost_weight(0.0), cost_weight(0.5), cost_weight(1.0), cost_weight(1.2)) == (1.0, 0.5, 0.0, 0.0)
    assert [c.key for c in training_order([big, small, cheap_and_useless], gains, after, cost_weight(0.9))] == \
        [big.key, small.key, cheap_and_useless.key]


def test_one_stage_predicts_only_the_children_its_flops_rung_ranks_best(tmp_path):
    from nacos.search.config import SearchConfig
    from nacos.search.loop import PREDICTED_PER_TRAINED, OneStageSearch

    search = OneStageSearch(SearchConfig(dataset="digits", budget_seconds=600, children=8, evaluate_per_generation=2),
                            tmp_path / "s", schedules=tmp_path / "none", progress=False)
    rng = np.random.default_rng(3)
    genotypes = iter({g.key(): g for g in (search.space.sample(rng) for _ in range(40))}.values())
    store = search.store
    children = [store.add_candidate(next(genotypes), 1, "mutation") for _ in range(8)]
    assert search.prescreen(children, []) == children  # no predictions yet to scale FLOPs by
    for n in range(4):  # four predictions at 1e-7 ms per FLOP
        c = store.add_candidate(next(genotypes), 0, "sample")
        flops = search.latency.flops(c)
        store.add_estimate(c, "latency", "predicted", flops * 1e-7, 0.1)
    kept = search.prescreen(children, [(0.9, 0.05)])
    assert len(kept) == PREDICTED_PER_TRAINED * 2
    skipped = [d for d in store.decisions() if d["reason"].startswith("screened out before prediction")]
    assert {d["key"] for d in skipped} == {c.key for c in children} - {c.key for c in kept}
    assert all(d["action"] == "skip" and abs(d["details"]["ms_per_flop"] - 1e-7) < 1e-12 for d in skipped)
    # before training costs are known, by optimistic gain alone: the kept have the largest
    assert min(d["details"]["gain"] for d in skipped) >= 0
    gains = {d["key"]: d["details"]["gain"] for d in skipped}
    assert max(gains.values()) <= min(search_gain for search_gain in
                                     [hv_gain(search, c) for c in kept]) + 1e-12


def hv_gain(search, candidate):
    from nacos.search.estimators import optimistic
    from nacos.search.pareto import hypervolume

    scale = 1e-7
    accuracy = search.accuracy.guess(candidate)
    hope = optimistic((accuracy.value, search.latency.flops(candidate) * scale), accuracy.spread, 0.0)
    ref = search.config.reference
    return hypervolume([(0.9, 0.05), hope], ref) - hypervolume([(0.9, 0.05)], ref)


def test_two_stage_measures_its_blind_fronts_in_turn_fewest_flops_first(tmp_path):
    """Stage two measures the FLOPs front, then, with time left, the next fronts by FLOPs."""
    from nacos.search.config import SearchConfig
    from nacos.search.two_stage import TwoStageSearch

    class Recorder:  # stands in for the tuning and timing only: the order is what is tested
        def __init__(self):
            self.order = []

        def done(self, candidate):
            return candidate.key in self.order

        def measure(self, candidate):
            self.order.append(candidate.key)

    recorder = Recorder()
    search = TwoStageSearch(SearchConfig(mode="two-stage", dataset="digits", budget_seconds=1000), tmp_path / "s",
                            schedules=tmp_path / "none", progress=False, measurement=recorder)
    rng = np.random.default_rng(5)
    genotypes = iter({g.key(): g for g in (search.space.sample(rng) for _ in range(20))}.values())
    keys = {}
    for name, accuracy, flops in (("a", 0.70, 1e6), ("b", 0.80, 3e6), ("c", 0.65, 2e6),  # c is behind a
                                  ("d", 0.75, 4e6), ("e", 0.60, 5e6)):  # d behind b; e behind d
        c = search.store.add_candidate(next(genotypes), 0, "sample")
        search.store.add_estimate(c, "accuracy", "train", accuracy, 1.0)
        search.store.add_estimate(c, "latency", "flops", flops, 0.0)
        keys[c.key] = name
    search.finish()
    assert [keys[k] for k in recorder.order] == ["a", "b", "c", "d", "e"]
    reasons = [d["reason"] for d in search.store.decisions()]
    assert reasons[0].startswith("on the compiler-blind front (") and "front 2" in reasons[2]

    # measurements of 60 s (the median so far) and 30 s left: the next one is not started
    late = TwoStageSearch(SearchConfig(mode="two-stage", dataset="digits", budget_seconds=1000), tmp_path / "late",
                          schedules=tmp_path / "none", progress=False, measurement=Recorder())
    late.spent_before = 970.0
    late_keys = []
    for accuracy, flops in ((0.70, 1e6), (0.80, 3e6)):
        c = late.store.add_candidate(next(genotypes), 0, "sample")
        late.store.add_estimate(c, "accuracy", "train", accuracy, 1.0)
        late.store.add_estimate(c, "latency", "flops", flops, 0.0)
        late_keys.append(c)
    late.store.add_tuning(late_keys[0], tasks=5, tasks_from_store=0, trials=40, seconds=60.0)
    late.store.add_estimate(late_keys[0], "latency", "measured", 0.2, 60.0)
    late.finish()
    assert late.measurement.order == []
    decision = late.store.decisions()[-1]
    assert decision["action"] == "skip" and decision["key"] == late_keys[1].key
    assert "about 60 s" in decision["reason"]


def test_predicted_latency_is_made_again_only_when_a_task_time_or_the_model_changed(tmp_path):
    from nacos.board import load_board
    from nacos.homes import SHIPPED_SCHEDULES
    from nacos.search.estimators import create_latency
    from nacos.search.store import StudyStore
    from nacos.spaces import get_space
    from nacos.spaces.lowering import distinct_samples

    space, board = get_space("mbconv"), load_board("x86")
    store = StudyStore.of_run(tmp_path, create=True)
    estimator = create_latency("predicted", space, store, board, [SHIPPED_SCHEDULES / "x86"])
    made = []
    predict = estimator.model.predict
    estimator.model.predict = lambda *a, **k: made.append(1) or predict(*a, **k)
    candidate = store.add_candidate(distinct_samples(space, 1, 3)[0], 0, "sample")
    first = estimator.guess(candidate)
    assert len(made) == 1 and first.value > 0
    first_seconds = store.estimate(candidate, "latency", "predicted").seconds
    estimator.store_changed()  # nothing it uses changed: the same prediction, not made again
    assert estimator.guess(candidate) == first and len(made) == 1
    task = estimator._made[candidate.key][3][0]
    estimator._best = {**estimator.best_times(), task.key: (1.0, 1)}  # one of its tasks got slow
    slower = estimator.guess(candidate)
    assert len(made) == 2 and slower.value > first.value
    assert store.estimate(candidate, "latency", "predicted").value == slower.value
    assert store.estimate(candidate, "latency", "predicted").seconds >= first_seconds  # what it cost in all
