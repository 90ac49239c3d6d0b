"""The co-search loop end to end on a tiny budget: store, report, export pick, kill -9 and resume.

Candidates are built and timed for real; `--trials-per-task 0` skips tuning (the tuner has its
own tests) so that a search fits in a minute on two cores.
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
        "--trials-per-task", "0", "--train-epochs", "1", "--train-images", "300", "--reference", "0.0,50"]


def finished_rows(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        return {(c, o, e): (v, t) for c, o, e, v, t in
                conn.execute("SELECT candidate, objective, estimator, value, created FROM estimate "
                             "WHERE estimator IN ('train', 'measured')")}


def test_tiny_search_runs_end_to_end_and_reports(tmp_path, capsys):
    out = tmp_path / "s1"
    assert main(["search", *TINY, "--budget", "45s", "--out", str(out), "--schedules", str(tmp_path / "sch"),
                 "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["measured"] >= 1 and result["trials"] == 0 and result["hypervolume"] > 0
    payload = write_report(out)
    assert {p.name for p in out.iterdir()} >= {"study.db", "pareto.csv", "pareto.json", "pareto.png", "candidates"}
    assert payload["front"] and all(0 <= r["accuracy"] <= 1 and r["latency_ms"] > 0 for r in payload["front"])
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    # the front's networks are exportable through the foundation's exporter
    key = payload["front"][0]["key"]
    assert main(["export", str(out), "--pick", key, "--target", "x86", "--out", str(tmp_path / "art"),
                 "--schedules", str(tmp_path / "sch")]) == 0
    assert (tmp_path / "art" / "model.so").exists()
    assert main(["export", str(out), "--pick", "nosuchkey", "--target", "x86", "--out", str(tmp_path / "a2")]) == 2
    # an existing run is not overwritten without --resume, and a resume must keep the settings
    assert main(["search", *TINY, "--budget", "45s", "--out", str(out), "--quiet"]) == 2
    assert main(["search", *TINY, "--budget", "90s", "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "add --resume" in err[-2] and "other settings" in err[-1]


def test_killed_search_resumes_without_losing_or_redoing_work(tmp_path):
    out, schedules = tmp_path / "s2", tmp_path / "sch"
    command = [sys.executable, "-m", "nacos", "search", *TINY, "--budget", "80s", "--out", str(out),
               "--schedules", str(schedules), "--quiet"]
    env = {**os.environ, "TVM_NUM_THREADS": "2"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "study.db"
    deadline = time.time() + 240
    while time.time() < deadline:  # kill once the first candidate is trained and measured
        try:
            if db.exists() and len(finished_rows(db)) >= 2:
                break
        except sqlite3.OperationalError:  # the file is there, its tables not yet
            pass
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = finished_rows(db)
    assert len(before) >= 2
    elapsed_at_kill = elapsed(db)
    assert elapsed_at_kill > 0  # the killed run's time counts against the budget

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    after = finished_rows(db)
    assert all(after[k] == v for k, v in before.items())  # kept, and not evaluated again
    assert len(after) > len(before)  # the resumed run went on
    assert elapsed(db) >= 80 > elapsed_at_kill


def elapsed(db: Path) -> float:
    with sqlite3.connect(db) as conn:
        return json.loads(conn.execute("SELECT value FROM study WHERE name = 'elapsed'").fetchone()[0])


@pytest.mark.parametrize("bad, message", [(["--budget", "5x"], "bad --budget"),
                                          (["--reference", "2,10"], "bad --reference"),
                                          (["--population", "1"], "--population 2 or more")])
def test_bad_search_options_are_one_line_errors(tmp_path, capsys, bad, message):
    assert main(["search", *TINY, *bad, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_report_of_a_folder_without_a_search(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no search" in capsys.readouterr().err


def test_constraints_keep_every_candidate_within_limits(tmp_path):
    from nacos.search.loop import Search, SearchConfig
    from nacos.search.store import StudyStore
    from nacos.spaces import get_space

    space = get_space("mbconv")
    flops = sorted(space.describe(space.sample(np.random.default_rng(i))).flops for i in range(40))
    limit = flops[len(flops) // 2]  # about half of the space is too heavy
    config = SearchConfig(dataset="digits", population=4, children=12, evaluate_per_generation=1,
                          max_flops=limit, seed=3)
    search = Search(config, tmp_path / "s", progress=False)
    population = [search.store.add_candidate(g, 0, "sample").key
                  for g in (space.sample(search.rng) for _ in range(30)) if search.feasible(g)][:4]
    children = search.propose(population, {k: (0.5, float(i + 1)) for i, k in enumerate(population)}, 1)
    assert len(children) == 12 and search.rejected > 0
    assert all(space.describe(c.genotype).flops <= limit for c in StudyStore(tmp_path / "s" / "study.db").candidates())
    assert "FLOPs" in config.violation(space.describe(max((space.sample(np.random.default_rng(i)) for i in range(40)),
                                                          key=lambda g: space.describe(g).flops)))
    with pytest.raises(Exception, match="--max-params must be positive"):
        SearchConfig(max_params=0).check()
