"""Few-shot latency predictor: reading latency tables, the CLI's errors, and prediction quality."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from nacos.cli import main
from nacos.costmodel.fewshot import SourceModels, fit_fewshot, load_latency_table, run_fewshot
from nacos.costmodel.latency_table import SHIPPED_TABLE, TABLE_VARIABLE, default_table, open_table
from nacos.costmodel.nb201_features import arch_features, live_edges, network_flops_params
from nacos.errors import NacosError
from nacos.spaces import get_space
from nacos.spaces.nb201 import is_disconnected, parse_arch

TRAINING = "1080ti_1,1080ti_32,1080ti_256,silver_4114,silver_4210r,samsung_a50,pixel3,essential_ph_1,samsung_s7"
ROWS = 400
DISCONNECTED_ROWS = 12
# sha256 of the HELP repository's nb201_latency_ms.csv (4,432,126 bytes), which the package ships gzip-compressed
SHIPPED_SHA256 = "f596615ee1f5b6a06de9728719d6b84d8110b100f0e8abcab3f1522bbd115a87"


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """400 connected and 12 disconnected rows of the shipped table, all 13 devices."""
    with open_table(SHIPPED_TABLE) as f:
        header, *rows = list(csv.reader(f))
    disconnected = [r for r in rows if is_disconnected(r[1])][:DISCONNECTED_ROWS]
    connected = [r for r in rows if not is_disconnected(r[1])]
    picked = [connected[i] for i in np.random.default_rng(0).choice(len(connected), ROWS, replace=False)]
    path = tmp_path_factory.mktemp("fewshot") / "small.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *picked, *disconnected])
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_disconnected_archs_are_dropped(small_csv):
    table = load_latency_table(small_csv)
    assert table.dropped_disconnected == DISCONNECTED_ROWS
    assert len(table.archs) == ROWS
    assert not any(is_disconnected(a) for a in table.archs)
    assert table.latency_ms.shape == (ROWS, 13)


def test_analytic_flops_and_params_match_the_built_network():
    space = get_space("nb201")
    rng = np.random.default_rng(3)
    for _ in range(3):
        genotype = space.sample(rng)
        description = space.describe(genotype)
        assert network_flops_params(parse_arch(space.arch(genotype))) == (description.flops, description.params)


def test_live_edges_follow_input_to_output_paths():
    # node 1 is fed by a conv but feeds nothing (edges 2<-1 and 3<-1 are none): that conv is dead
    ops = ("nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1", "none", "avg_pool_3x3")
    assert live_edges(ops) == [False, True, False, True, False, True]
    assert arch_features([GOOD_ARCH]).shape[0] == 1


@pytest.mark.parametrize("problem, make", [
    ("missing column", lambda d: _write(d / "a.csv", "nb201_index,latency\n0,1.0\n")),
    ("not numeric", lambda d: _write(d / "b.csv", f"nb201_index,arch,dev_a,dev_b\n0,{GOOD_ARCH},1.5,fast\n")),
    ("negative", lambda d: _write(d / "c.csv", f"nb201_index,arch,dev_a,dev_b\n0,{GOOD_ARCH},1.5,-2\n")),
    ("short row", lambda d: _write(d / "d.csv", f"nb201_index,arch,dev_a,dev_b\n0,{GOOD_ARCH},1.5\n")),
    ("malformed arch", lambda d: _write(d / "e.csv", "nb201_index,arch,dev_a,dev_b\n0,|conv~0|+|x~0|,1,2\n")),
    ("missing file", lambda d: d / "absent.csv"),
    ("not gzip", lambda d: _write(d / "f.csv.gz", f"nb201_index,arch,dev_a,dev_b\n0,{GOOD_ARCH},1.5,2\n")),
])
def test_bad_csv_is_one_error_line(tmp_path, capsys, problem, make):
    path = make(tmp_path)
    code = main(["costmodel", "fewshot", "--data", str(path), "--target-device", "dev_b",
                 "--source-devices", "dev_a", "--samples", "2", "--seed", "0"])
    err = capsys.readouterr().err
    assert code == 2, problem
    assert err.startswith("nacos: error: ") and err.count("\n") == 1, err
    assert str(path.name) in err


@pytest.mark.parametrize("target, sources, word", [
    ("titanx_2", TRAINING, "titanx_2"),
    ("gold_6240", "silver_4114,no_such_gpu", "no_such_gpu"),
    ("gold_6240", "gold_6240,silver_4114", "cannot also be a source"),
])
def test_unknown_or_misused_device_is_one_error_line(small_csv, capsys, target, sources, word):
    code = main(["costmodel", "fewshot", "--data", str(small_csv), "--target-device", target,
                 "--source-devices", sources, "--samples", "10", "--seed", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("nacos: error: ") and err.count("\n") == 1 and word in err, err


def test_too_many_samples_is_an_error(small_csv):
    table = load_latency_table(small_csv)
    with pytest.raises(NacosError, match="--samples"):
        run_fewshot(table, "gold_6240", ["silver_4114"], samples=ROWS, seed=0)


def test_same_seed_same_result(small_csv, capsys):
    argv = ["costmodel", "fewshot", "--data", str(small_csv), "--target-device", "gold_6240",
            "--source-devices", "silver_4114,1080ti_1", "--samples", "10", "--json"]
    results = []
    for seed in ("1", "1", "2"):
        assert main([*argv, "--seed", seed]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == results[1]
    assert results[0]["spearman"] != results[2]["spearman"]
    assert results[0]["evaluated"] == ROWS - 10 and results[0]["dropped_disconnected"] == DISCONNECTED_ROWS
    assert {"spearman", "kendall", "mape", "flops_baseline"} <= set(results[0])


def test_fewshot_ranks_validation_devices_well(small_csv):
    """10 samples of an unseen device, nine other devices as sources: rank 390 other archs well.

    FLOPs alone reach about 0.94 on gold_6240 but only about 0.79 on titanx_1 (a GPU at batch 1,
    where the number of kernels matters more than arithmetic), so titanx_1 is where a predictor
    that had collapsed to a FLOPs proxy would fail.
    """
    table = load_latency_table(small_csv)
    sources = SourceModels(table, TRAINING.split(","))
    for target, bar in (("gold_6240", 0.85), ("titanx_1", 0.90)):
        result = run_fewshot(table, target, TRAINING.split(","), samples=10, seed=0, sources=sources)
        assert result["spearman"] > bar, (target, result)
        assert result["mape"] < 0.3, (target, result)


def test_uncertainty_is_exposed(small_csv):
    table = load_latency_table(small_csv)
    sources = SourceModels(table, ["silver_4114", "silver_4210r"])
    predictor = fit_fewshot(sources, table.archs[:10], table.column("gold_6240")[:10], seed=0)
    ms, spread = predictor.predict_with_uncertainty(table.archs[10:20])
    assert ms.shape == spread.shape == (10,)
    assert np.all(ms > 0) and np.all(spread > 0)
    with pytest.raises(NacosError):
        predictor.predict(["|conv~0|"])


def test_the_shipped_table_is_the_data_set_with_its_licence():
    with open_table(SHIPPED_TABLE) as f:
        text = f.read()
    assert hashlib.sha256(text.encode()).hexdigest() == SHIPPED_SHA256
    assert "MIT License" in (SHIPPED_TABLE.parent / "LICENSE-HELP").read_text()
    assert "HELP" in (SHIPPED_TABLE.parent / "README.md").read_text()
    table = load_latency_table(SHIPPED_TABLE)
    assert len(table.archs) + table.dropped_disconnected == 15625 and len(table.devices) == 13


def test_fewshot_needs_no_table_path(monkeypatch, capsys):
    """Outside a checkout there is no ../shared: the shipped table is the default."""
    monkeypatch.delenv(TABLE_VARIABLE, raising=False)
    assert default_table() == SHIPPED_TABLE
    assert main(["costmodel", "fewshot", "--target-device", "gold_6240", "--source-devices", "silver_4114",
                 "--samples", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["archs"] + result["dropped_disconnected"] == 15625 and result["spearman"] > 0.8


def test_the_table_variable_overrides_the_shipped_table(small_csv, monkeypatch, capsys):
    monkeypatch.setenv(TABLE_VARIABLE, str(small_csv))
    assert main(["costmodel", "fewshot", "--target-device", "gold_6240", "--source-devices", "silver_4114",
                 "--samples", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["archs"] == ROWS
