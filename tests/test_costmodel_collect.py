"""`nacos costmodel collect` and `retime`: a board's latency data set measured into the user store
(resumable, timed again on request), and one-line errors for what cannot be done."""

import json

import pytest

from nacos.cli import main


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NACOS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NACOS_SCHEDULES", raising=False)
    return tmp_path / "home"


def test_collect_measures_into_the_user_store_resumes_and_retimes(home, tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["costmodel", "collect", "-n", "1", "--trials-per-task", "2", "--repeat", "5", "--runs", runs]) == 0
    data = home / "schedules" / "x86" / "latency_mbconv.jsonl"
    [sample] = [json.loads(line) for line in data.read_text().splitlines()]
    assert sample["space"] == "mbconv" and sample["latency_ms"] > 0 and sample["tasks"]
    assert sample["trials_spent"] <= 2 * sample["tasks_new"]
    assert sum(t["tuned_here"] for t in sample["tasks"]) == sample["tasks_new"]
    assert all(t["best_us"] > 0 for t in sample["tasks"] if not t["tuned_here"])  # known: timed in the store
    capsys.readouterr()

    assert main(["costmodel", "collect", "-n", "1", "--runs", runs]) == 0  # done already: nothing measured
    assert "0 architectures measured now, 1 in" in capsys.readouterr().out

    assert main(["costmodel", "collect", "--retime", "--repeat", "5"]) == 0
    [again] = [json.loads(line) for line in data.read_text().splitlines()]
    assert again["latency_ms_first"] == sample["latency_ms"] and again["latency_ms"] > 0
    assert again["latency_ms"] == pytest.approx(sample["latency_ms"], rel=1.0)  # the same network, same records


@pytest.mark.parametrize("argv, pattern", [
    (["costmodel", "collect", "--target", "rpi4", "-n", "1"], "cannot be measured on this machine"),
    (["costmodel", "collect", "--rpc-tracker", "127.0.0.1:9190"], "together with --rpc-key"),
    (["costmodel", "collect", "-n", "0"], "-n and --repeat must be 1 or more"),
    (["costmodel", "collect", "--from-study", "NOWHERE"], "is not a search run"),
    (["costmodel", "retime", "--schedules", "EMPTY"], "no tuning records in"),
    (["costmodel", "retime", "--target", "rpi4"], "cannot be measured on this machine"),
])
def test_collect_and_retime_refuse_in_one_line(home, tmp_path, capsys, argv, pattern):
    argv = [str(tmp_path / a) if a in ("NOWHERE", "EMPTY") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and pattern in err, err
    assert not (home / "schedules" / "x86" / "latency_mbconv.jsonl").exists()
