"""The measured-latency data set: durable appends, torn tails of killed writers, clear errors."""

import json

import pytest

from nacos.costmodel.latency_dataset import append_sample, read_samples
from nacos.errors import NacosError


def sample(key: str, latency: float) -> dict:
    return {"space": "mbconv", "genotype": {"space": "mbconv", "decisions": {}}, "key": key, "target": "x86",
            "latency_ms": latency, "tasks": [{"key": "123", "weight": 1, "best_us": 10.0}]}


def test_appended_samples_read_back_in_order(tmp_path):
    path = tmp_path / "sub" / "lat.jsonl"
    append_sample(path, sample("a", 1.5))
    append_sample(path, sample("b", 2.5))
    assert [(s["key"], s["latency_ms"]) for s in read_samples(path)] == [("a", 1.5), ("b", 2.5)]


def test_torn_tail_of_a_killed_writer_is_skipped_then_cut(tmp_path):
    path = tmp_path / "lat.jsonl"
    append_sample(path, sample("a", 1.5))
    with path.open("a") as f:
        f.write(json.dumps(sample("b", 2.5))[:40])  # killed mid-line
    assert [s["key"] for s in read_samples(path)] == ["a"]
    append_sample(path, sample("c", 3.5))
    assert [s["key"] for s in read_samples(path)] == ["a", "c"]
    assert path.read_text().count("\n") == 2


def test_bad_data_set_gives_one_clear_error(tmp_path):
    with pytest.raises(NacosError, match="cannot read latency data set"):
        read_samples(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(NacosError, match="line 1 is not JSON"):
        read_samples(bad)
    bad.write_text(json.dumps({"space": "mbconv"}) + "\n")
    with pytest.raises(NacosError, match="lacks 'genotype'"):
        read_samples(bad)


def test_rewrite_replaces_the_whole_data_set_at_once(tmp_path):
    from nacos.costmodel.latency_dataset import append_sample, read_samples, rewrite_samples

    path = tmp_path / "lat.jsonl"
    for i in range(3):
        append_sample(path, {"space": "mbconv", "genotype": {}, "target": "x86", "tasks": [], "key": str(i),
                             "latency_ms": 1.0})
    samples = read_samples(path)
    samples[1]["latency_ms"] = 2.0
    rewrite_samples(path, samples)
    assert [s["latency_ms"] for s in read_samples(path)] == [1.0, 2.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.jsonl"]
