"""The Python API (nacos/api.py): the README's example as written, studies read back, and objects
(a Board, a Space, a Strategy) taken as well as names."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nacos
from nacos.errors import NacosError

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    """The first ```python block after the '## Python API' heading."""
    text = README.read_text()
    section = text[text.index("\n## Python API\n"):]
    match = re.search(r"^```python\n(.*?)^```$", section, re.S | re.M)
    assert match, "README's Python API section has no ```python block"
    return match.group(1)


def make_study(folder: Path) -> list[str]:
    """A study with three measured candidates (two on the front) and one only trained; keys
    of the front, fastest first."""
    from nacos.search.store import StudyStore
    from nacos.spaces import get_space

    space, rng = get_space("nb201"), np.random.default_rng(0)
    genotypes = list({g.key(): g for g in (space.sample(rng) for _ in range(12))}.values())[:4]
    folder.mkdir(parents=True)
    store = StudyStore.of_run(folder, create=True)
    store.set_settings({"config": {"mode": "one-stage", "space": "nb201", "target": "x86",
                                   "reference": [0.5, 20.0]}})
    keys = []
    for g, (accuracy, latency) in zip(genotypes, ((0.80, 2.0), (0.70, 1.0), (0.60, 3.0), (0.90, None))):
        c = store.add_candidate(g, 0, "sample")
        store.add_estimate(c, "accuracy", "train", accuracy, 5.0)
        if latency is not None:
            store.add_estimate(c, "latency", "measured", latency, 30.0)
            store.add_tuning(c, tasks=3, tasks_from_store=2, trials=4, seconds=30.0)
        keys.append(c.key)
    store.close()
    return [keys[1], keys[0]]  # (0.70, 1 ms), (0.80, 2 ms); (0.60, 3 ms) is dominated


def test_import_nacos_stays_cheap():
    code = ("import sys, nacos; assert callable(nacos.tune) and callable(nacos.search); "
            "print(sorted(m for m in ('tvm', 'torch') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    """The example exactly as the README shows it, in a fresh folder, with an empty record store
    of its own (every task is new) and its temporary folder inside tmp_path."""
    from nacos.artifact import LIBRARY
    from nacos.records import RECORD_FILE

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NACOS_SCHEDULES", str(tmp_path / "schedules"))
    monkeypatch.setenv("NACOS_HOME", str(tmp_path / "home"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    front = make_study(tmp_path / "runs" / "s1")  # so that its last part runs too
    names = {}
    exec(compile(readme_example(), str(README), "exec"), names)
    printed = capsys.readouterr().out
    summary, artifact = names["summary"], names["artifact"]
    assert summary["tasks"] == summary["tasks_tuned_here"] > 0  # an empty store: every task is new
    assert 1 <= summary["trials_spent"] <= 8 + summary["tasks"]  # the last round may overshoot by a batch
    assert summary["check"]["ok"] and summary["check"]["relative_error"] < summary["check"]["tolerance"]
    assert (Path(artifact["path"]) / LIBRARY).is_file() and artifact["elf_machine"] == "x86_64"
    assert Path(artifact["path"]).is_relative_to(tmp_path / "tmp")
    assert (tmp_path / "schedules" / "x86" / RECORD_FILE).is_file()  # the records went to the named store
    assert f"{summary['trials_spent']} trials spent" in printed and "(ok)" in printed
    assert [line.split(":")[0] for line in printed.splitlines()[-2:]] == front


def test_study_reads_front_candidates_and_report(tmp_path):
    front = make_study(tmp_path / "s")
    with nacos.load_study(tmp_path / "s") as study:
        assert study.path == tmp_path / "s" and study.result is None
        assert [p["key"] for p in study.front] == front
        assert [p["latency_ms"] for p in study.front] == [1.0, 2.0]
        candidates = study.candidates
        assert len(candidates) == 4 and candidates[3]["values"] == {"accuracy/train": 0.9}
        assert candidates[1]["values"] == {"accuracy/train": 0.7, "latency/measured": 1.0}
        report = study.report()
        assert report["measured"] == 3 and report["trained"] == 4 and report["trials"] == 12
        assert report["hypervolume"] == pytest.approx(0.2 * 19 + 0.1 * 18)  # reference (0.5, 20 ms)
        assert study.report(reference=(0.5, 2.5))["hypervolume"] == pytest.approx(0.2 * 1.5 + 0.1 * 0.5)


def test_load_study_of_a_folder_that_is_no_study_is_one_line(tmp_path):
    for folder, message in ((tmp_path, "holds no search"), (tmp_path / "missing", "holds no search")):
        with pytest.raises(NacosError, match=message) as caught:
            nacos.load_study(folder)
        assert len(str(caught.value).splitlines()) == 1
    assert not (tmp_path / "missing").exists() and not (tmp_path / "study.db").exists()  # nothing written
    (tmp_path / "study.db").write_bytes(b"this is not sqlite, " * 100)
    with pytest.raises(NacosError, match="not a NACOS study store") as caught:
        nacos.load_study(tmp_path)
    assert len(str(caught.value).splitlines()) == 1


# ------------------------------------------------------------------ objects as well as names


@pytest.fixture()
def no_run(monkeypatch):
    """Searches built as the API builds them, not run: the searches it made, in order."""
    from nacos.search.loop import Search

    made = []

    def run(self):
        made.append(self)
        return {"mode": self.mode}
    monkeypatch.setattr(Search, "run", run)
    return made


SMALL = dict(dataset="digits", budget=30, population=2, children=3, evaluate=1, progress=False)


def test_search_takes_board_space_and_strategy_objects_as_their_names(tmp_path, no_run):
    from nacos.board import load_board
    from nacos.search.strategy import RegularizedEvolution
    from nacos.spaces.mbconv import MBConvSpace

    board, space, strategy = load_board("x86"), MBConvSpace(), RegularizedEvolution()
    by_objects = nacos.search(space, target=board, strategy=strategy, out=tmp_path / "o",
                              schedules=tmp_path / "none", **SMALL)
    by_names = nacos.search("mbconv", target="x86", strategy="regularized", out=tmp_path / "n",
                            schedules=tmp_path / "none", **SMALL)
    made = no_run[0]
    assert made.board is board and made.space is space and made.strategy is strategy
    assert no_run[1].space is not space and type(no_run[1].space) is MBConvSpace
    assert by_objects.result == {"mode": "one-stage"}
    config = by_objects.settings["config"]
    assert (config["space"], config["target"], config["strategy"]) == ("mbconv", "x86", "regularized")
    assert config == by_names.settings["config"]
    # the study keeps names: resumed with the objects, or with the names, it is the same search
    nacos.search(space, target=board, strategy=strategy, out=tmp_path / "o", resume=True, **SMALL)
    nacos.search("mbconv", target="x86", strategy="regularized", out=tmp_path / "o", resume=True, **SMALL)
    with pytest.raises(NacosError, match="other settings"):
        nacos.search("mbconv", target="x86", strategy="nsga2", out=tmp_path / "o", resume=True, **SMALL)
    by_objects.close()
    by_names.close()


def test_search_takes_a_strategy_of_its_own(tmp_path, no_run):
    from nacos.search.strategy import RegularizedEvolution

    class Youngest(RegularizedEvolution):
        name = "youngest"

    with nacos.search("mbconv", strategy=Youngest(), out=tmp_path / "y", schedules=tmp_path / "none",
                      **SMALL) as study:
        assert isinstance(no_run[0].strategy, Youngest) and study.settings["config"]["strategy"] == "youngest"
    with pytest.raises(NacosError, match="unknown search strategy 'youngest'"):
        nacos.search("mbconv", strategy="youngest", out=tmp_path / "z", **SMALL)  # a name must be registered
    with pytest.raises(NacosError, match="give the search space as a name or a Space object"):
        nacos.search(42, out=tmp_path / "z", **SMALL)
    assert not (tmp_path / "z").exists()


@pytest.fixture()
def no_tuning(monkeypatch):
    """tune_network / export_run replaced by recorders: what the API hands the pipeline."""
    import nacos.pipeline

    calls = []
    monkeypatch.setattr(nacos.pipeline, "tune_network", lambda network, board, out, trials, **kw:
                        calls.append((network, board, out, trials, kw)) or {"check": None})
    monkeypatch.setattr(nacos.pipeline, "export_run", lambda run, board, out, **kw:
                        calls.append((run, board, out, kw)) or {"target": board.name})
    return calls


def test_tune_and_export_take_a_board_object_and_a_module(tmp_path, no_tuning):
    from nacos.board import load_board
    from nacos.zoo import build

    board = load_board("x86")
    module, shape = build("tiny-cnn")
    nacos.tune(module, target=board, trials=4, input_shapes=[shape], out=tmp_path / "m", progress=False)
    network, given, out, trials, kw = no_tuning[0]
    assert given is board and out == tmp_path / "m" and trials == 4 and not kw["progress"]
    assert network.framework == "pytorch" and network.inputs[0].shape == shape
    assert network.name == type(module).__name__
    nacos.export(tmp_path / "m", target=board, out=tmp_path / "a", force=True)
    assert no_tuning[1] == (tmp_path / "m", board, tmp_path / "a", {"schedules": None, "force": True})
    with pytest.raises(NacosError, match="no measured candidate 'k' in"):
        nacos.export(tmp_path / "m", target=board, pick="k", out=tmp_path / "b")


def test_tune_refuses_as_the_command_does(tmp_path, no_tuning):
    from nacos.board import load_board
    from nacos.zoo import build

    for target in ("rpi4", load_board("rpi4")):  # a name and an object fail alike, before anything is written
        with pytest.raises(NacosError, match="cannot be measured on this machine"):
            nacos.tune("builtin:tiny-cnn", target=target, trials=8, out=tmp_path / "r")
    with pytest.raises(NacosError, match="--trials must be 0 or more"):
        nacos.tune("builtin:tiny-cnn", trials=-1, out=tmp_path / "r")
    with pytest.raises(NacosError, match="give the tracker as --rpc-tracker HOST:PORT"):
        nacos.tune("builtin:tiny-cnn", rpc="localhost:9190", out=tmp_path / "r")  # no key
    with pytest.raises(NacosError, match="bad --input-shape"):
        nacos.tune("builtin:tiny-cnn", input_shapes=[(1, 0, 28)], out=tmp_path / "r")
    with pytest.raises(NacosError, match="--input-shape is required"):
        nacos.tune(build("tiny-cnn")[0], out=tmp_path / "r")
    assert not no_tuning and not (tmp_path / "r").exists()


# ------------------------------------------------------------------ a real search through the API


@pytest.mark.slow
def test_search_through_the_api_measures_a_front(tmp_path, search_schedules):
    from nacos.board import load_board
    from nacos.spaces.mbconv import MBConvSpace

    study = nacos.search(MBConvSpace(), target=load_board("x86"), dataset="digits", budget="45s", seed=1,
                         population=2, children=3, evaluate=1, trials_per_task=1, train_images=300,
                         reference=(0.0, 50.0), out=tmp_path / "s", schedules=search_schedules, progress=False)
    with study:
        assert study.result["measured"] >= 1 and len(study.candidates) == study.result["candidates"]
        assert study.front and [p["key"] for p in study.front] == [
            p["key"] for p in nacos.load_study(tmp_path / "s").report()["front"]]
        assert study.report()["hypervolume"] == pytest.approx(study.result["hypervolume"])
        key = study.front[0]["key"]
    art = nacos.export(tmp_path / "s", pick=key, target="x86", out=tmp_path / "art", schedules=search_schedules)
    assert Path(art["path"], "model.so").is_file()
