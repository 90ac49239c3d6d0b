"""Re-measuring a store's fastest records: a timing that ranks a slow record first is
corrected, the build's choice follows, untouched lines stay byte for byte, and a second run
measures nothing."""

import json

import pytest

from nacos.board import load_board
from nacos.homes import SHIPPED_SCHEDULES
from nacos.record_timing import MAX_RECORDS, RETIMED_FILE, TOP_RECORDS, record_lines, retime_store, retimed
from nacos.records import RECORD_FILE, WORKLOAD_FILE, best_times, workload_keys

LUCKY = 5.0  # a slow record's timing made this many times faster than the fastest's: it ranks first


def small_store(folder, workloads=2):
    """The first `workloads` workloads of the shipped x86 store with 4 to MAX_RECORDS records of 5 us or more,
    re-indexed, in a new store folder; the slowest record of each gets a wrong time, LUCKY times
    below the fastest record's, and so ranks first."""
    shipped = SHIPPED_SCHEDULES / "x86"
    entries = [json.loads(line) for line in (shipped / WORKLOAD_FILE).read_text().splitlines()]
    by_workload = {}
    for line in (shipped / RECORD_FILE).read_text().splitlines():
        windex, record = json.loads(line)
        by_workload.setdefault(windex, []).append(record)

    def mean(record):
        return sum(record[1]) / len(record[1])

    chosen = [w for w, records in sorted(by_workload.items())
              if 4 <= len(records) <= MAX_RECORDS and min(map(mean, records)) > 5e-6][:workloads]
    folder.mkdir(parents=True)
    lucky = {}
    with (folder / WORKLOAD_FILE).open("w") as wf, (folder / RECORD_FILE).open("w") as rf:
        line = 0
        for new, old in enumerate(chosen):
            wf.write(json.dumps(entries[old]) + "\n")
            records = by_workload[old]
            valid = [i for i in range(len(records)) if mean(records[i]) < 1e9]
            fastest = min(mean(records[i]) for i in valid)
            slowest = max(valid, key=lambda i: mean(records[i]))
            for i, record in enumerate(records):
                if i == slowest:
                    record[1] = [fastest / LUCKY]
                    lucky[entries[old][0]] = (line, fastest / LUCKY)
                rf.write(json.dumps([new, record], separators=(",", ":")) + "\n")
                line += 1
    return lucky


def test_retime_corrects_a_lucky_record_and_resumes(tmp_path):
    folder = tmp_path / "x86"
    lucky = small_store(folder)
    before = (folder / RECORD_FILE).read_text().splitlines()
    board = load_board("x86")

    result = retime_store(folder, board, repeat=3, progress=False)

    done = retimed(folder)
    assert result["measured_now"] == len(done) >= TOP_RECORDS * len(lucky)
    after = (folder / RECORD_FILE).read_text().splitlines()
    assert len(after) == len(before)
    for number, (old, new) in enumerate(zip(before, after)):
        if number not in done:
            assert old == new  # copied byte for byte
        else:
            assert json.loads(new)[1][1] == done[number]
    lines = record_lines(folder)
    best = best_times(folder)
    for windex, key in enumerate(workload_keys(folder)):
        line, lucky_secs = lucky[key]
        # the lucky record ranked first, so it was measured again, and its time is its real one
        assert line in done and sum(done[line]) / len(done[line]) > lucky_secs * LUCKY
        assert line != min(lines[windex], key=lambda r: r[1])[0]
        # the record a build picks is one measured now, and the store's best time is its time
        fastest_line, fastest = min(lines[windex], key=lambda r: r[1])
        assert fastest_line in done and best[key][0] == pytest.approx(fastest)

    # TVM's own database reads the rewritten file and ranks by the new times
    from tvm.s_tir import meta_schedule as ms

    database = ms.database.JSONDatabase(str(folder / WORKLOAD_FILE), str(folder / RECORD_FILE))
    for record in database.get_all_tuning_records():
        assert record.run_secs is not None
    again = retime_store(folder, board, repeat=3, progress=False)
    assert again["measured_now"] == 0 and again["rewritten"] == 0
    assert (folder / RECORD_FILE).read_text().splitlines() == after
    assert len((folder / RETIMED_FILE).read_text().splitlines()) == len(done)
