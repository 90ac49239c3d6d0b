"""One record store shared by tunes running at the same time; damaged stores refused in one line
and repaired without losing an intact record; a run that remembers the store it was tuned with.

SmallNet at three input sizes gives three networks with different convolutions and one linear
task in common. Budgets are tiny: what is checked is where every record ends up, not speed.
"""

import base64
import json
import os
import shutil
import subprocess
import sys

import pytest

from nacos.cli import main
from nacos.errors import NacosError
from nacos.record_files import RECORD_FILE, WORKLOAD_FILE, complete_lines, renumbered
from nacos.records import RecordStore, best_times
from nacos.tune_database import TuneDatabase

SIZES = {"a": 16, "b": 8, "c": 12, "c-again": 12}  # input height = width
TRIALS = {"a": 8, "b": 4, "c": 3, "c-again": 3}  # at least one per task


def _tune(models_py, name, root, env) -> subprocess.Popen:
    size = SIZES[name]
    return subprocess.Popen(
        [sys.executable, "-m", "nacos", "tune", f"{models_py}:build_net", "--input-shape", f"1,1,{size},{size}",
         "--trials", str(TRIALS[name]), "--schedules", str(root / "schedules"), "--out", str(root / name),
         "--repeat", "5", "--json", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _summary(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out[out.index("{\n"):])


@pytest.fixture(scope="module")
def shared(tmp_path_factory, models_py):
    """Two networks tuned at once into one empty store, then a third network tuned twice at once.

    c and c-again start as soon as b has ended: b's records, the linear task's among them, are in
    the store then (c finds that task known), and a, which may still be running, is a third writer.
    """
    root = tmp_path_factory.mktemp("shared-store")
    env = {**os.environ, "NACOS_SCHEDULES": str(root / "default")}  # the shipped store is never touched
    first = {name: _tune(models_py, name, root, env) for name in ("a", "b")}
    runs = {"b": _summary(first["b"])}
    second = {name: _tune(models_py, name, root, env) for name in ("c", "c-again")}
    runs["a"] = _summary(first["a"])
    runs.update({name: _summary(proc) for name, proc in second.items()})
    return root, root / "schedules", runs


def _copy(store_root, tmp_path):
    copy = tmp_path / "schedules"
    shutil.copytree(store_root, copy)
    return copy, copy / "x86"


def _error_line(capsys) -> str:
    """The one `nacos: error:` line (an exception other than NacosError would have left main)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("nacos: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert errors[0].startswith("nacos: error: damaged record store: ")
    return errors[0]


def test_concurrent_tunes_share_one_store(shared):
    _, store_root, runs = shared
    folder = store_root / "x86"
    for name, summary in runs.items():
        assert summary["check"]["ok"], name  # each build with the shared records matches its reference
        assert summary["tasks"] == 4 and summary["tasks_without_records"] == 0, name
    assert runs["a"]["tasks_tuned_here"] == runs["b"]["tasks_tuned_here"] == 4  # both tuned the linear task
    assert runs["c"]["tasks_tuned_here"] == runs["c-again"]["tasks_tuned_here"] == 3  # its linear task was known

    workload_lines, unfinished = complete_lines(folder / WORKLOAD_FILE)
    keys = [json.loads(line)[0] for line in workload_lines]
    assert unfinished == b"" and len(keys) == len(set(keys)) == 4 + 3 + 3  # each workload once
    assert set(keys) == {t["key"] for summary in runs.values() for t in summary["task_details"]}
    record_lines, unfinished = complete_lines(folder / RECORD_FILE)
    records = [json.loads(line) for line in record_lines]
    assert unfinished == b"" and all(0 <= index < len(keys) for index, _ in records)
    # every measured candidate is in the store exactly once: none lost, none merged twice
    assert len(records) == sum(s["trials_spent"] - s["trials_resumed"] for s in runs.values())

    # stock MetaSchedule loads it, replaying every record's trace on the workload it is filed under
    from tvm.s_tir import meta_schedule as ms

    database = ms.database.JSONDatabase(str(folder / WORKLOAD_FILE), str(folder / RECORD_FILE),
                                        allow_missing=False)
    assert len(database) == len(records)
    best = best_times(folder)
    for summary in runs.values():
        assert all(t["key"] in best for t in summary["task_details"])


def test_export_uses_the_store_the_run_was_tuned_with(shared, tmp_path, monkeypatch, capsys):
    root, store_root, _ = shared
    monkeypatch.setenv("NACOS_SCHEDULES", str(tmp_path / "default"))  # an empty default store
    assert json.loads((root / "a" / "model.json").read_text())["schedules"] == str(store_root.resolve())
    assert main(["export", str(root / "a"), "--target", "x86", "--out", str(tmp_path / "art"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tasks"] == out["tasks_with_records"] == 4
    assert os.path.samefile(out["schedules"], store_root / "x86")
    # --schedules given again wins
    assert main(["export", str(root / "a"), "--target", "x86", "--out", str(tmp_path / "art2"),
                 "--schedules", str(tmp_path / "other"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tasks_with_records"] == 0


def test_garbage_line_in_the_middle_is_refused_and_repaired(shared, tmp_path, capsys, models_py):
    root, store_root, _ = shared
    copy, folder = _copy(store_root, tmp_path)
    intact = (folder / RECORD_FILE).read_bytes()
    lines = intact.splitlines(keepends=True)
    (folder / RECORD_FILE).write_bytes(b"".join(lines[:2]) + b"{not a tuning record\n" + b"".join(lines[2:]))
    where = f"{folder / RECORD_FILE} line 3 is not a tuning record"
    repair = f"nacos records repair --target x86 --schedules {copy}"

    run = tmp_path / "run"
    assert main(["tune", f"{models_py}:build_net", "--input-shape", "1,1,16,16", "--schedules", str(copy),
                 "--out", str(run), "--trials", "4", "--quiet"]) == 2
    line = _error_line(capsys)
    assert where in line and repair in line and not run.exists()  # refused before the run folder is written
    art = tmp_path / "art"
    assert main(["export", str(root / "a"), "--target", "x86", "--schedules", str(copy), "--out", str(art)]) == 2
    line = _error_line(capsys)
    assert where in line and repair in line and not art.exists()

    assert main(["records", "check", "--target", "x86", "--schedules", str(copy)]) == 2
    out = capsys.readouterr().out
    assert f"10 workloads, {len(lines) + 1} records" in out and f"{RECORD_FILE} line 3 is not a tuning record" in out
    assert main(["records", "repair", "--target", "x86", "--schedules", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"dropped {RECORD_FILE} line 3" in out and f"kept 10 workloads and {len(lines)} records" in out
    assert (folder / RECORD_FILE).read_bytes() == intact  # every intact record kept, byte for byte
    assert main(["records", "check", "--target", "x86", "--schedules", str(copy)]) == 0
    assert "no damage" in capsys.readouterr().out


def test_record_on_a_missing_workload_is_refused(shared, tmp_path, capsys):
    root, store_root, _ = shared
    copy, folder = _copy(store_root, tmp_path)
    intact = (folder / RECORD_FILE).read_bytes()
    lines = intact.splitlines(keepends=True)
    ghost = renumbered(lines[0].rstrip(b"\n"), 15) + b"\n"  # valid record, 10 workloads
    (folder / RECORD_FILE).write_bytes(lines[0] + ghost + b"".join(lines[1:]))
    where = f"{folder / RECORD_FILE} line 2 refers to workload 15, which does not exist"

    with pytest.raises(NacosError, match="line 2 refers to workload 15, which does not exist"):
        RecordStore("x86", copy)
    with pytest.raises(NacosError, match="line 2 refers to workload 15"):
        best_times(folder)  # the lock-free readers refuse it too
    art = tmp_path / "art"
    assert main(["export", str(root / "a"), "--target", "x86", "--schedules", str(copy), "--out", str(art)]) == 2
    assert where in _error_line(capsys) and not art.exists()
    assert main(["records", "repair", "--target", "x86", "--schedules", str(copy)]) == 0
    assert f"kept 10 workloads and {len(lines)} records" in capsys.readouterr().out
    assert (folder / RECORD_FILE).read_bytes() == intact


def test_undecodable_workload_is_refused_and_dropped_with_its_records(shared, tmp_path, capsys):
    _, store_root, _ = shared
    copy, folder = _copy(store_root, tmp_path)
    workloads = (folder / WORKLOAD_FILE).read_bytes().splitlines()
    entry = json.loads(workloads[1])
    module = bytearray(base64.b64decode(entry[1]))
    start = module.index(b'{\n  "root_index"')
    module[start] = ord("!")  # the module's JSON no longer parses; the line still looks like a workload
    entry[1] = base64.b64encode(bytes(module)).decode()
    workloads[1] = json.dumps(entry).encode()
    (folder / WORKLOAD_FILE).write_bytes(b"".join(line + b"\n" for line in workloads))
    records = [json.loads(line) for line in (folder / RECORD_FILE).read_bytes().splitlines()]
    on_it = sum(index == 1 for index, _ in records)
    after_it = sum(index > 1 for index, _ in records)
    assert on_it > 0 and after_it > 0

    with pytest.raises(NacosError, match=f"{WORKLOAD_FILE} line 2 does not decode with TVM"):
        RecordStore("x86", copy)
    assert main(["records", "check", "--target", "x86", "--schedules", str(copy)]) == 2
    assert f"{WORKLOAD_FILE} line 2 does not decode with TVM" in capsys.readouterr().out
    assert main(["records", "repair", "--target", "x86", "--schedules", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"kept 9 workloads and {len(records) - on_it} records, {after_it} records renumbered" in out

    from tvm.s_tir import meta_schedule as ms

    # the renumbered records replay on the workloads they now name: none is filed under another one
    database = ms.database.JSONDatabase(str(folder / WORKLOAD_FILE), str(folder / RECORD_FILE),
                                        allow_missing=False)
    assert len(database) == len(records) - on_it
    assert len(RecordStore("x86", copy).database) == len(records) - on_it


def test_unfinished_last_line_is_left_to_the_writers(shared, tmp_path, capsys):
    _, store_root, _ = shared
    copy, folder = _copy(store_root, tmp_path)
    intact = (folder / RECORD_FILE).read_bytes()
    tail = b'[0,[[["GetSBlock",[],["pad_temp"'  # a writer is appending, or was killed doing so
    (folder / RECORD_FILE).write_bytes(intact + tail)

    store = RecordStore("x86", copy)
    assert len(store.database) == intact.count(b"\n")  # the complete lines only ...
    assert (folder / RECORD_FILE).read_bytes() == intact + tail  # ... and a reader cuts nothing
    assert main(["records", "check", "--target", "x86", "--schedules", str(copy)]) == 0
    assert "last line unfinished" in capsys.readouterr().out
    assert main(["records", "repair", "--target", "x86", "--schedules", str(copy)]) == 0  # under the lock
    assert (folder / RECORD_FILE).read_bytes() == intact


def test_leftover_private_database_is_merged_once(shared, tmp_path):
    _, store_root, runs = shared
    copy, folder = _copy(store_root, tmp_path)
    store = RecordStore("x86", copy)
    before = complete_lines(folder / RECORD_FILE)[0]
    private = TuneDatabase(tmp_path / "run")
    private.start(store, {t["key"] for t in runs["b"]["task_details"]})
    seeded = complete_lines(private.folder / RECORD_FILE)[0]
    keys = [json.loads(line)[0] for line in complete_lines(folder / WORKLOAD_FILE)[0]]
    b_keys = {t["key"] for t in runs["b"]["task_details"]}
    assert len(seeded) == sum(keys[json.loads(line)[0]] in b_keys for line in before)
    measured = []  # two new measurements, appended the way MetaSchedule appends them
    for k, line in enumerate(seeded[:2]):
        index, record = json.loads(line)
        record[1] = [1.25e-3 + k * 1e-6]
        measured.append(json.dumps([index, record], separators=(",", ":")).encode() + b"\n")
    with (private.folder / RECORD_FILE).open("ab") as f:
        f.write(b"".join(measured))
    merged_before = (private.folder / "merged.json").read_bytes()

    assert private.merge(store) == 2
    after = complete_lines(folder / RECORD_FILE)[0]
    assert len(after) == len(before) + 2 and after[:len(before)] == before
    assert store.current() and len(store.database) == len(before) + 2  # absorbed, not read again
    # killed after appending, before merged.json said so: the next run merges nothing twice
    (private.folder / "merged.json").write_bytes(merged_before)
    assert private.merge(store, after_kill=True) == 0
    assert complete_lines(folder / RECORD_FILE)[0] == after
