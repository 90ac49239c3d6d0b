"""The default record store is the user's with the shipped records read under it: reads see the
best of both (TVM's UnionDatabase for builds, the line readers for best times), only each
workload's fastest shipped record is decoded, writes never reach the shipped files, and a store
named by --schedules is read alone."""

import json
from types import SimpleNamespace

import pytest

from nacos import homes
from nacos.board import load_board
from nacos.homes import SHIPPED_SCHEDULES
from nacos.records import RECORD_FILE, WORKLOAD_FILE, RecordStore, best_times, store_folders, workload_keys


def _shipped_entries(count: int):
    """`count` shipped workloads with 2 or more valid records: (workload entry, its records)."""
    folder = SHIPPED_SCHEDULES / "x86"
    workloads = [json.loads(line) for line in (folder / WORKLOAD_FILE).read_text().splitlines()]
    records = {}
    for line in (folder / RECORD_FILE).read_text().splitlines():
        windex, record = json.loads(line)
        if record[1] and max(record[1]) < 1e9:
            records.setdefault(windex, []).append(record)
    chosen = [w for w in sorted(records) if len(records[w]) >= 2][:count]
    return [(workloads[w], records[w]) for w in chosen]


def _write_store(folder, entries):
    folder.mkdir(parents=True)
    with (folder / WORKLOAD_FILE).open("w") as wf, (folder / RECORD_FILE).open("w") as rf:
        for n, (workload, records) in enumerate(entries):
            wf.write(json.dumps(workload) + "\n")
            for record in records:
                rf.write(json.dumps([n, record], separators=(",", ":")) + "\n")


def _mean(record) -> float:
    return sum(record[1]) / len(record[1])


@pytest.fixture()
def layered(tmp_path, monkeypatch):
    """A small "shipped" store of 3 workloads under an empty user home; the user's store holds the
    second workload with a record twice as fast as its fastest shipped one."""
    entries = _shipped_entries(3)
    shipped_root = tmp_path / "shipped"
    _write_store(shipped_root / "x86", entries)
    monkeypatch.setattr(homes, "SHIPPED_SCHEDULES", shipped_root)
    monkeypatch.setenv("NACOS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NACOS_SCHEDULES", raising=False)
    workload, records = entries[1]
    faster = json.loads(json.dumps(min(records, key=_mean)))
    faster[1] = [secs / 2 for secs in faster[1]]
    user = tmp_path / "home" / "schedules" / "x86"
    _write_store(user, [(workload, [faster])])
    return SimpleNamespace(entries=entries, shipped=shipped_root / "x86", user=user, faster=faster)


def test_reads_see_the_shipped_records_under_the_users(layered):
    folders = store_folders("x86")
    assert folders == [layered.user, layered.shipped]
    keys = [workload[0] for workload, _ in layered.entries]
    assert workload_keys(folders) == [keys[1], keys[0], keys[2]]  # the user's first, then what it lacks
    best = best_times(folders)
    assert set(best) == set(keys)
    for n, (workload, records) in enumerate(layered.entries):
        fastest = min(map(_mean, records))
        assert best[workload[0]][0] == pytest.approx(fastest / 2 if n == 1 else fastest)
        assert best[workload[0]][1] == len(records) + (n == 1)


def test_builds_query_the_best_record_of_both_layers(layered):
    from tvm.s_tir import meta_schedule as ms

    store = RecordStore("x86")
    assert isinstance(store.database, ms.database.UnionDatabase)
    target = load_board("x86").target()
    for n, (workload, records) in enumerate(layered.entries):
        mod = ms.database.Workload.from_json(workload).mod
        found = store.database.query_tuning_record(mod, target, "main")
        fastest = min(map(_mean, records))
        want = fastest / 2 if n == 1 else fastest
        assert sum(float(s) for s in found.run_secs) / len(found.run_secs) == pytest.approx(want)
        task = SimpleNamespace(prim_func_mod=mod)
        assert store.best_seconds(task) == pytest.approx(want)
        # the shipped layer is decoded with each workload's fastest record only
        assert len(store.layers[1].get_top_k(store.layers[1].commit_workload(mod), 100)) == 1
    assert store.path == layered.user


def test_a_named_store_is_read_alone(layered, tmp_path, monkeypatch):
    assert store_folders("x86", tmp_path / "mine") == [tmp_path / "mine" / "x86"]
    monkeypatch.setenv("NACOS_SCHEDULES", str(tmp_path / "env"))
    assert store_folders("x86") == [tmp_path / "env" / "x86"]
    assert best_times(store_folders("x86")) == {}
