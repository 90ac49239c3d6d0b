"""Warm-start MetaSchedule's XGBoost cost model from records of other workloads before a tune.

Cold, the cost model knows nothing until the first measurements come back, and MetaSchedule's
gradient task scheduler generates the first batch of every task before it measures any: that
round is a random search over each task's design space. With MobileNetV2's 30-odd tasks and
64-candidate batches the first round alone is most of a 20-minute tune. Trained first on a record
store (TenSet-style: each record's schedule features against its speed relative to its own
workload's best, which is what MetaSchedule's model learns), the model ranks the candidates of the
first round too. Workloads of the network being tuned are left out of the warm-start data, so a
tune never learns from records of its own tasks. Measured (tools/bench_warm_start.py, 20 workloads of
the shipped x86 store held out, 3,000 records of 241 others, 77 s to featurize and train): mean
Spearman 0.49 between score and measured speed of the held-out records, the best-scored one in the
measured top 10 % for 8 of 20 (a cold model: 0, and about 2).
"""

from __future__ import annotations

import random
from pathlib import Path

from .record_files import mean_seconds, read_layers


def sample_records(folders: list[Path], exclude: set[str], per_workload: int, most: int, seed: int = 0):
    """{workload key: (Workload, [TuningRecord])}: up to `per_workload` valid records (two or more)
    of random workloads not in `exclude`, at most `most` in all (fixed seed)."""
    from tvm.s_tir import meta_schedule as ms

    lines = read_layers(folders)
    by_workload: dict[int, list[int]] = {}
    for n, entry in enumerate(lines.records):
        if entry is None or mean_seconds(entry[1]) is None:
            continue
        index = entry[0]
        if lines.keys[index] is not None and lines.keys[index] not in exclude:
            by_workload.setdefault(index, []).append(n)
    rng = random.Random(seed)
    order = [index for index, found in by_workload.items() if len(found) >= 2]  # one says nothing of order
    rng.shuffle(order)
    picked, total = {}, 0
    for index in order:  # whole groups of random workloads until `most`: a ranking needs several per workload
        take = min(per_workload, len(by_workload[index]), most - total)
        if take < 2:
            break
        picked[index] = rng.sample(by_workload[index], take)
        total += take
    out = {}
    for index, numbers in picked.items():
        workload = ms.database.Workload.from_json(lines.workload_entry(index))
        out[lines.keys[index]] = (workload, [ms.database.TuningRecord.from_json(lines.record_entry(n), workload)
                                             for n in numbers])
    return out


def warm_xgb(folders: list[Path], target, exclude: set[str], *, per_workload: int = 16, most: int = 3000,
             num_tuning_cores: int = 1, seed: int = 0):
    """An XGBModel trained once on sampled store records (None when the store has too few); the
    tune then goes on updating it as usual."""
    import numpy as np
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.cost_model.xgb_model import FeatureGroup
    from tvm.s_tir.meta_schedule.utils import shash2hex

    from .builder import import_cpu_intrinsics, intrinsic_family

    import_cpu_intrinsics(intrinsic_family(target))  # a TuneContext would import the CUDA ones too (35 s)
    samples = sample_records(folders, exclude, per_workload, most, seed)
    if not samples:
        return None
    model = ms.cost_model.XGBModel(num_tuning_cores=num_tuning_cores, adaptive_training=True)
    groups = []
    for workload, records in samples.values():
        context = ms.TuneContext(mod=workload.mod, target=target)
        candidates = [r.as_measure_candidate() for r in records]
        results = [ms.runner.RunnerResult(run_secs=r.run_secs, error_msg=None) for r in records]
        groups.append((context, candidates, results))
    # every group but the last goes in as data, the last through update(), which trains once on all
    for context, candidates, results in groups[:-1]:
        features = [f.numpy().astype("float32") for f in model.extractor.extract_from(context, candidates)]
        costs = np.array([float(np.median([float(s) for s in r.run_secs])) for r in results], dtype="float32")
        keep = [i for i, f in enumerate(features) if len(f)]
        if keep:
            key = shash2hex(context.mod)
            model.data[key] = FeatureGroup(group_hash=key, features=[features[i] for i in keep], costs=costs[keep])
            model.data_size += len(keep)
    model.update(*groups[-1])
    return model
