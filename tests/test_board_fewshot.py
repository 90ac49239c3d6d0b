"""A board known from ten measured NAS-Bench-201 networks: few-shot fit and predict from the CLI.

The board's "measurements" are one device column of the shipped table (gold_6240), kept out of
the sources, so the prediction can be checked against what that device measured.
"""

import json

import numpy as np

from nacos.cli import main
from nacos.costmodel.latency_dataset import append_sample
from nacos.costmodel.latency_table import SHIPPED_TABLE, load_latency_table
from nacos.spaces import get_space

TABLE = SHIPPED_TABLE
BOARD_DEVICE = "gold_6240"


def test_fit_on_ten_board_samples_then_predict_unseen_cells(tmp_path, capsys):
    table = load_latency_table(TABLE)
    rows = np.random.default_rng(0).choice(len(table.archs), 610, replace=False)
    small = tmp_path / "table.csv"
    devices = [d for d in table.devices if d != BOARD_DEVICE]
    small.write_text("nb201_index,arch," + ",".join(devices) + "\n" + "".join(
        f"{i},{table.archs[i]}," + ",".join(f"{table.column(d)[i]}" for d in devices) + "\n" for i in rows[:600]))
    space = get_space("nb201")
    data = tmp_path / "sch" / "rpi4" / "latency_nb201.jsonl"
    for i in rows[:10]:
        genotype = space.genotype(table.archs[i])
        append_sample(data, {"space": "nb201", "genotype": genotype.to_dict(), "key": genotype.key(),
                             "target": "rpi4", "tasks": [], "latency_ms": float(table.column(BOARD_DEVICE)[i])})
    common = ["--target", "rpi4", "--schedules", str(tmp_path / "sch")]
    assert main(["costmodel", "fit", *common, "--data", str(data), "--latency-table", str(small)]) == 0
    assert (tmp_path / "sch" / "rpi4" / "fewshot_nb201" / "model.json").exists()
    capsys.readouterr()
    errors = []
    for i in rows[600:]:  # cells neither the sources' table part nor the samples held
        path = tmp_path / "g.json"
        path.write_text(json.dumps(space.genotype(table.archs[i]).to_dict()))
        assert main(["costmodel", "predict", *common, str(path), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["model"] == "few-shot" and result["low_ms"] <= result["latency_ms"] <= result["high_ms"]
        errors.append(abs(result["latency_ms"] / table.column(BOARD_DEVICE)[i] - 1))
    assert np.median(errors) < 0.25


def test_a_board_without_measurements_says_how_to_get_them(tmp_path, capsys):
    space = get_space("mbconv")
    path = tmp_path / "g.json"
    path.write_text(json.dumps(space.sample(np.random.default_rng(0)).to_dict()))
    assert main(["costmodel", "predict", "--target", "rpi4", "--schedules", str(tmp_path), str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no latency model for rpi4" in err[0] and "--rpc-tracker" in err[0]
