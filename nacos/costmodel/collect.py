"""Measure tuned end-to-end latencies of architectures: the labels a board's latency model learns.

    nacos costmodel collect --space mbconv --target x86 -n 40 --trials-per-task 16
    nacos costmodel collect --retime              # time every sample again, quietly
    nacos costmodel collect --from-study runs/s1  # add a search's measured networks

`collect`: for each of `n` distinct random genotypes (seeded), lower it to Relax, tune the tasks
the record store does not know (`trials_per_task` each; tasks met in earlier architectures
cost nothing), build with the records, check against PyTorch, time it and append one line to
the data set. Stopped and run again, finished architectures are skipped and an interrupted
tune resumes from its run folder.

Timings taken while something else ran are too slow, and so are the tuning records' own. After
collecting, re-measure the store's best records (`nacos costmodel retime`, record_timing.py),
then `retime_samples`: each architecture is built again with the store's best records (no task
is tuned again) and timed again, the first timing kept as `latency_ms_first`.

`add_from_study` adds the networks a `nacos search` run tuned and measured (their records must
be in the store), marked with `source` and the search's `trials_per_task`.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from ..errors import NacosError
from .latency_dataset import append_sample, read_samples, rewrite_samples


def data_path(board, space, schedules: Path | None = None, data: Path | None = None) -> Path:
    """`data`, or the board's data set for the space in the store it writes (the user's by default)."""
    from ..records import store_folder

    return Path(data) if data else store_folder(board.name, schedules) / f"latency_{space.name}.jsonl"


def collect(space, board, n: int, *, seed: int = 0, trials_per_task: int = 16, repeat: int = 30,
            data: Path, runs: Path, schedules: Path | None = None, rpc=None, progress: bool = True) -> dict:
    """Measure up to `n` architectures into `data`; returns {"measured", "skipped", "in_data"}."""
    from ..pipeline import tune_network
    from ..records import RecordStore
    from ..spaces.lowering import distinct_samples, lower
    from ..tasks import extract_tasks

    done = {s["key"] for s in read_samples(data)} if data.exists() else set()
    genotypes = [g for g in distinct_samples(space, n, seed) if g.key() not in done]
    measured = skipped = 0
    bar = tqdm(genotypes, desc="collect", unit="net", disable=not progress)
    for genotype in bar:
        start = time.perf_counter()
        network = lower(space, genotype)
        tasks = extract_tasks(network.mod, board.target(), prepack=board.weight_prepack)
        store = RecordStore.open(board.name, schedules)  # holds what the last tune added
        new = sum(not store.known(t) for t in tasks)
        summary = tune_network(network, board, Path(runs) / genotype.key(), new * trials_per_task,
                               schedules=schedules, repeat=repeat, rpc=rpc, progress=progress)
        if not (summary["check"] or {}).get("ok"):
            bar.write(f"{genotype.key()}: skipped, output differs from PyTorch ({summary['check']})")
            skipped += 1
            continue
        append_sample(data, {
            "space": space.name, "genotype": genotype.to_dict(), "key": genotype.key(), "target": board.name,
            "latency_ms": summary["latency"]["median_ms"], "latency_min_ms": summary["latency"]["min_ms"],
            "repeat": repeat, "tasks": summary["task_details"], "tasks_new": new,
            "trials_spent": summary["trials_spent"], "trials_per_task": trials_per_task,
            "tune_seconds": summary["tune_seconds"], "seconds": time.perf_counter() - start,
            **space.describe(genotype).costs()})
        measured += 1
        bar.write(f"{genotype.key()}: {len(tasks)} tasks ({new} new), {summary['latency']['median_ms']:.3f} ms, "
                  f"{summary['trials_spent']} trials, {time.perf_counter() - start:.0f} s")
    return {"measured": measured, "skipped": skipped, "in_data": len(read_samples(data)) if data.exists() else 0}


def add_from_study(space, board, study_dir: Path, *, data: Path, schedules: Path | None = None) -> dict:
    """Append the measured candidates of a search run whose tasks are all in the store."""
    from ..records import store_folders, workload_keys
    from ..search.store import STUDY_FILE, StudyStore

    if not (Path(study_dir) / STUDY_FILE).exists():
        raise NacosError(f"'{study_dir}' is not a search run (no {STUDY_FILE}); give the --out of a nacos search")
    study = StudyStore(Path(study_dir) / STUDY_FILE)
    config = study.setting("config")
    if config["space"] != space.name or config["target"] != board.name:
        raise NacosError(f"'{study_dir}' searched {config['space']} on {config['target']}, not {space.name} on "
                         f"{board.name}; give --space and --target to match")
    done = {s["key"] for s in read_samples(data)} if data.exists() else set()
    stored = set(workload_keys(store_folders(board.name, schedules)))
    added = lacking = 0
    for c in study.candidates():
        e = study.estimate(c, "latency", "measured")
        if e is None or c.key in done or not e.details.get("tasks"):
            continue
        if any(t["key"] not in stored for t in e.details["tasks"]):
            lacking += 1
            continue
        append_sample(data, {
            "space": space.name, "genotype": c.genotype.to_dict(), "key": c.key, "target": board.name,
            "latency_ms": e.value, "latency_min_ms": e.details.get("min_ms"), "repeat": 30,
            "tasks": e.details["tasks"], "trials_per_task": config["trials_per_task"],
            "source": f"search {study_dir}", **space.describe(c.genotype).costs()})
        added += 1
    return {"added": added, "tasks_not_in_store": lacking}


def retime_samples(space, board, *, data: Path, schedules: Path | None = None, repeat: int = 30,
                   progress: bool = True) -> dict:
    """Time every sample of `data` again with the store's best records; the file is rewritten once."""
    from .. import compiler
    from ..records import RecordStore
    from ..spaces import Genotype
    from ..spaces.lowering import lower

    samples = read_samples(data)
    if not samples:
        raise NacosError(f"no samples in '{data}' to time again; collect some first (nacos costmodel collect)")
    store = RecordStore.open(board.name, schedules)
    kept = 0
    for sample in tqdm(samples, desc="retime", unit="net", disable=not progress):
        network = lower(space, space.validate(Genotype.from_json(sample["genotype"])))
        inputs = network.sample_inputs()
        vm = compiler.load_vm(compiler.build(network.mod, board, store))
        if not compiler.compare(compiler.run(vm, inputs), network.reference(inputs)).ok:
            kept += 1  # its first timing stays
            continue
        latency = compiler.time_ms(vm, inputs, repeat=repeat)
        sample.setdefault("latency_ms_first", sample["latency_ms"])
        sample["latency_ms"], sample["latency_min_ms"] = latency["median_ms"], latency["min_ms"]
    rewrite_samples(data, samples)
    return {"timed": len(samples) - kept, "output_differs": kept}
