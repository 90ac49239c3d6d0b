"""Saved latency models: XGBoost's own format plus JSON, exact round trips, and nothing else loads.

Small models fitted on synthetic rows here (no TVM, no measurements), so the file checks take
seconds; the fit on real measurements and its round trip are in test_latency_model.py.
"""

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import nacos
from nacos.homes import SHIPPED_SCHEDULES
from nacos.cli import main
from nacos.costmodel.board_fewshot import BoardFewShot
from nacos.costmodel.features import task_feature_names
from nacos.costmodel.fewshot import SourceModels, fit_fewshot
from nacos.costmodel.latency_model import (ENSEMBLE, MIN_NETWORKS, TASK_PARAMS, LatencyModel, NetworkModel,
                                           TaskModel)
from nacos.costmodel.latency_table import SHIPPED_TABLE, load_latency_table
from nacos.errors import NacosError

SHIPPED_STORE = SHIPPED_SCHEDULES / "x86"


def _description(rng):
    """What `features.arch_features` reads of a network's description."""
    return SimpleNamespace(layers=[], flops=float(rng.uniform(1e6, 1e9)), params=float(rng.uniform(1e3, 1e6)),
                           peak_activation_bytes=float(rng.uniform(1e4, 1e7)))


@pytest.fixture(scope="module")
def latency_model():
    import xgboost

    rng = np.random.default_rng(0)
    task = TaskModel({"kind": "llvm", "mcpu": "generic"}, seed=3)
    x = rng.normal(size=(40, len(task_feature_names())))
    task.booster = xgboost.XGBRegressor(random_state=3, **TASK_PARAMS).fit(x, x[:, 0] - 7).get_booster()
    task.trained_keys = frozenset(f"workload-{i}" for i in range(40))
    descriptions = [_description(rng) for _ in range(12)]
    schedules = [(float(rng.uniform(0.5, 20)), float(rng.uniform())) for _ in descriptions]
    latencies = [1.3 * est + 0.2 + rng.uniform(0, 0.5) for est, _ in schedules]
    network = NetworkModel(seed=3).fit(descriptions, schedules, latencies)
    return LatencyModel("x86", task.target_dict, task, network, trained_on=len(descriptions)), descriptions, schedules


def _known_tasks(n: int):
    """Tasks the store has all measured: the prediction needs no TVM."""
    tasks = [SimpleNamespace(key=f"k{i}", weight=i + 1) for i in range(n)]
    return tasks, {t.key: 1e-4 * (i + 1) for i, t in enumerate(tasks)}


def _saved(model, folder: Path) -> Path:
    model.save(folder)
    return folder


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_latency_model_round_trip_is_exact(latency_model, tmp_path):
    model, descriptions, schedules = latency_model
    path = model.save(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["model.json", "task.ubj", *(f"network-{i}.ubj" for i in range(ENSEMBLE))])
    again = LatencyModel.load(tmp_path)
    assert np.array_equal(again.network_model.predict_log(descriptions, schedules),
                          model.network_model.predict_log(descriptions, schedules))
    x = np.random.default_rng(1).normal(size=(25, len(task_feature_names())))
    assert np.array_equal(again.task_model.booster.inplace_predict(x), model.task_model.booster.inplace_predict(x))
    tasks, known = _known_tasks(5)
    assert again.predict(descriptions[0], tasks, known) == model.predict(descriptions[0], tasks, known)
    assert (again.board, again.target_dict, again.trained_on) == (model.board, model.target_dict, model.trained_on)
    assert again.task_model.trained_keys == model.task_model.trained_keys and again.task_model.seed == 3
    assert (again.network_model.scale, again.network_model.overhead_ms) == (model.network_model.scale,
                                                                            model.network_model.overhead_ms)
    meta = json.loads((path / "model.json").read_text())
    assert meta["format"] == 1 and meta["kind"] == "latency_model" and meta["saved_by"]["xgboost"]
    assert meta["board"] == "x86" and meta["trained_on"] == 12  # the readable summary at the top


def test_a_save_replaces_an_old_pickled_model(latency_model, tmp_path):
    model, _, _ = latency_model
    (tmp_path / "latency_model.pkl").write_bytes(b"\x80\x04old")
    (tmp_path / "latency_model.json").write_text("{}")
    model.save(tmp_path)
    assert not (tmp_path / "latency_model.pkl").exists() and not (tmp_path / "latency_model.json").exists()
    model.save(tmp_path)  # saving again over a saved model
    LatencyModel.load(tmp_path)


def _booby_trapped_pickle(marker: Path) -> bytes:
    """A pickle whose loading creates `marker`: proof that it was, or was not, unpickled."""

    class Trap:
        def __reduce__(self):
            return open, (str(marker), "w")

    return pickle.dumps(Trap())


@pytest.mark.parametrize("where", ["legacy", "folder", "model.json", "booster"])
def test_a_pickle_where_a_model_is_expected_is_refused_unexecuted(latency_model, tmp_path, where):
    model, _, _ = latency_model
    marker = tmp_path / "unpickled"
    trap = _booby_trapped_pickle(marker)
    folder = tmp_path / "x86"
    folder.mkdir()
    if where == "legacy":
        (folder / "latency_model.pkl").write_bytes(trap)
    elif where == "folder":
        (folder / "latency_model").write_bytes(trap)
    else:
        _saved(model, folder)
        (folder / "latency_model" / ("model.json" if where == "model.json" else "network-3.ubj")).write_bytes(trap)
    with pytest.raises(NacosError) as exc:
        LatencyModel.load(folder)
    text = _one_line(exc)
    assert "pickle" in text and "not loaded" in text and "nacos costmodel fit" in text
    assert not marker.exists()


def test_the_cli_refuses_an_old_pickle_in_one_line(tmp_path, capsys):
    marker = tmp_path / "unpickled"
    (tmp_path / "x86").mkdir()
    (tmp_path / "x86" / "latency_model.pkl").write_bytes(_booby_trapped_pickle(marker))
    data = SHIPPED_STORE / "latency_mbconv.jsonl"
    assert main(["costmodel", "eval", "--data", str(data), "--schedules", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latency_model.pkl" in err[0] and "pickle" in err[0] and "costmodel fit" in err[0]
    assert not marker.exists()


@pytest.mark.parametrize("change, found", [
    (lambda m: {**m, "format": 2}, "format 2"),
    (lambda m: {k: v for k, v in m.items() if k != "format"}, "format None"),
    (lambda m: {**m, "kind": "fewshot_nb201"}, "kind 'fewshot_nb201'"),
    (lambda m: {**m, "network_model": {**m["network_model"], "feature_names": ["a"]}}, "other architecture"),
    (lambda m: {**m, "task_model": {}}, "malformed"),
])
def test_a_model_file_of_another_format_is_refused(latency_model, tmp_path, change, found):
    model, _, _ = latency_model
    meta_path = _saved(model, tmp_path) / "latency_model" / "model.json"
    meta_path.write_text(json.dumps(change(json.loads(meta_path.read_text()))))
    with pytest.raises(NacosError) as exc:
        LatencyModel.load(tmp_path)
    text = _one_line(exc)
    assert found in text and "model.json" in text and "nacos costmodel fit" in text


def test_garbage_and_changed_boosters_are_refused(latency_model, tmp_path):
    model, _, _ = latency_model
    folder = _saved(model, tmp_path) / "latency_model"
    (folder / "task.ubj").write_bytes((folder / "network-0.ubj").read_bytes())  # a real booster, the wrong one
    with pytest.raises(NacosError, match="task.ubj' has changed: not the file model.json was saved with"):
        LatencyModel.load(tmp_path)
    (folder / "model.json").write_bytes(b"\x00\xffnot json")
    with pytest.raises(NacosError, match="is not JSON"):
        LatencyModel.load(tmp_path)


def test_no_model_is_none_or_one_line(tmp_path):
    assert BoardFewShot.load(tmp_path) is None
    with pytest.raises(NacosError, match="no latency model in"):
        LatencyModel.load(tmp_path)


@pytest.fixture(scope="module")
def fewshot_model():
    full = load_latency_table(SHIPPED_TABLE)
    rows = np.random.default_rng(0).choice(len(full.archs), 200, replace=False)
    table = full.subset(rows)
    sources = SourceModels(table, ["silver_4114", "pixel3"])
    predictor = fit_fewshot(sources, table.archs[:10], table.column("gold_6240")[:10], seed=2)
    return BoardFewShot("rpi4", predictor, list(sources.devices), 10), table


def test_fewshot_round_trip_is_exact_and_refuses_pickles(fewshot_model, tmp_path):
    model, table = fewshot_model
    path = model.save(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["model.json", "source-0.ubj", "source-1.ubj"]
    again = BoardFewShot.load(tmp_path)
    archs = list(table.archs[10:60])
    assert again.predict(archs) == model.predict(archs)
    assert (again.board, again.sources, again.trained_on) == ("rpi4", ["silver_4114", "pixel3"], 10)

    marker = tmp_path / "unpickled"
    old = tmp_path / "old"
    old.mkdir()
    (old / "fewshot_nb201.pkl").write_bytes(_booby_trapped_pickle(marker))
    with pytest.raises(NacosError, match="fewshot_nb201.pkl' is a model saved by an older NACOS with pickle; it "
                                         "was not loaded"):
        BoardFewShot.load(old)
    (path / "source-1.ubj").write_bytes(_booby_trapped_pickle(marker))
    with pytest.raises(NacosError, match="source-1.ubj' is a pickle: not the file model.json"):
        BoardFewShot.load(tmp_path)
    assert not marker.exists()


def test_the_shipped_x86_model_loads_in_the_new_format():
    assert not (SHIPPED_STORE / "latency_model.pkl").exists(), "the shipped model must not be a pickle"
    model = LatencyModel.load(SHIPPED_STORE)
    assert model.board == "x86" and model.trained_on >= MIN_NETWORKS and len(model.network_model.members) == ENSEMBLE
    assert model.task_model.booster.num_features() == len(task_feature_names())
    assert all(m.num_features() == len(NetworkModel.feature_names()) for m in model.network_model.members)
    tasks, known = _known_tasks(20)
    prediction = model.predict(_description(np.random.default_rng(0)), tasks, known)
    assert np.isfinite(prediction.latency_ms) and prediction.latency_ms > 0 and prediction.measured_share == 1.0


def test_no_costmodel_module_can_unpickle():
    for source in (Path(nacos.__file__).parent / "costmodel").glob("*.py"):
        text = source.read_text()
        assert not any(f"import {name}" in text for name in ("pickle", "cloudpickle", "joblib")), source.name

