"""Schedules for tasks the record store has never seen, transferred from similar workloads.

A record's trace names blocks and samples tile sizes. Replayed on another workload with the same
blocks (an operator of the same kind at other shapes), it still schedules it once every tile
decision is refitted to the new loop extents: the inner factors are kept where they divide, the
rest goes outermost. MetaSchedule's own postprocessors then finish the schedule for the target,
as they finish every sampled one. Transfer-tuning (Gibson & Cano, 2022) reports about half of the
full tuning speed-up this way, with no search. Each task takes the trace of the workload nearest in
shape whose replay succeeds; a build uses it only where the store has no record of the task
(`database`: TVM's OrderedUnionDatabase over the store and a ScheduleFnDatabase that replays it).
Nothing transferred is written to the store: it has no measured time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .record_files import read_layers
from .records import fastest_lines
from .tasks import Task, workload_key


@dataclass(frozen=True)
class Shape:
    """What makes two workloads the same kind (`kind`) and how far apart their sizes are (`extents`)."""

    kind: tuple  # per block: name and iterator types; then the number of parameters
    extents: tuple[int, ...]  # every block iterator's extent, in the order of `kind`


def shape_of(prim_func_mod) -> Shape | None:
    """The workload's Shape; None for a function without plain blocks (nothing to transfer)."""
    from tvm.s_tir import Schedule

    try:
        sch = Schedule(prim_func_mod)
        blocks = [sch.get(rv) for rv in sch.get_child_blocks(sch.get_sblock("root"))]
    except Exception:  # noqa: BLE001 - no root block: an opaque or already scheduled function
        return None
    func = prim_func_mod["main"]
    kind = tuple((b.name_hint, tuple(int(iv.iter_type) for iv in b.iter_vars)) for b in blocks)
    kind += (len(func.params),)
    try:
        extents = tuple(int(iv.dom.extent) for b in blocks for iv in b.iter_vars)
    except TypeError:  # a symbolic extent
        return None
    return Shape(kind, extents)


def distance(a: Shape, b: Shape) -> float:
    """Sum over the iterators of |log extent ratio|: 0 for the same sizes."""
    return sum(abs(math.log(x / y)) for x, y in zip(a.extents, b.extents) if x > 0 and y > 0)


def refit_tiles(factors: list[int], extent: int) -> list[int]:
    """Tile factors for a loop of `extent`, as close to `factors` as divisibility allows."""
    out, rest = [1] * len(factors), extent
    for i in range(len(factors) - 1, 0, -1):
        out[i] = math.gcd(int(factors[i]), rest)
        rest //= out[i]
    out[0] = rest
    return out


def replay(trace, prim_func_mod, target):
    """The trace (sampling part) replayed on the workload with refitted tiles and the target's
    postprocessors applied; None when it does not fit the workload."""
    import tvm
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms

    sch = Schedule(prim_func_mod)

    def refit(inst, inputs, attrs, decision):
        if inst.kind.name != "SamplePerfectTile" or decision is None or len(decision) == 0:
            return decision
        factors = refit_tiles([int(f) for f in decision], int(sch.get(inputs[0]).extent))
        if hasattr(decision[0], "dtype"):  # the decision's own element type (IntImm)
            return [tvm.tirx.IntImm(decision[0].dtype, f) for f in factors]
        return factors

    try:
        trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=refit)
        context = ms.TuneContext(mod=prim_func_mod, target=target)
        sch.enter_postproc()  # as MetaSchedule marks it: a search replaying the trace strips what follows
        for postproc in ms.postproc.Postproc.create("llvm"):
            postproc._initialize_with_tune_context(context)
            if not postproc.apply(sch):
                return None
    except Exception:  # noqa: BLE001 - TVM raises a ScheduleError (or a TVMError) for a misfit
        return None
    return sch


@dataclass
class Transferred:
    task: Task
    source: str  # the workload key the trace came from
    distance: float
    trace: object  # tvm.s_tir.Trace, postprocessors included


def transfer(tasks: list[Task], folders: list[Path], target, nearest: int = 8) -> dict[str, Transferred]:
    """task key -> its transferred schedule, for the tasks the store's layers do not know, from
    the best record of each of their `nearest` workloads of the same kind, nearest first."""
    from tvm.s_tir import meta_schedule as ms

    from .builder import import_cpu_intrinsics, intrinsic_family

    lines = read_layers(folders)
    best = fastest_lines(lines.records)  # workload line -> its fastest valid record line
    known = {lines.keys[i] for i in best}
    if all(task.key in known for task in tasks):
        return {}  # nothing to transfer: no workload decoded
    import_cpu_intrinsics(intrinsic_family(target))  # replay's TuneContext would import the CUDA ones too
    workloads = {i: ms.database.Workload.from_json(lines.workload_entry(i)) for i in best}
    shapes = {i: shape_of(w.mod) for i, w in workloads.items()}
    found = {}
    for task in tasks:
        if task.key in known:
            continue
        mine = shape_of(task.prim_func_mod)
        if mine is None:
            continue
        similar = sorted((distance(mine, s), i) for i, s in shapes.items() if s is not None and s.kind == mine.kind)
        for d, i in similar[:nearest]:
            record = ms.database.TuningRecord.from_json(lines.record_entry(best[i]), workloads[i])
            sch = replay(record.trace, task.prim_func_mod, target)
            if sch is not None:
                found[task.key] = Transferred(task, lines.keys[i], d, sch.trace)
                break
    return found


def database(store_database, transferred: dict[str, Transferred]):
    """The store's database first, then the transferred schedules for what it lacks."""
    from tvm.s_tir import meta_schedule as ms

    def schedule(sch) -> bool:
        found = transferred.get(workload_key(sch.mod))
        if found is None:
            return False
        found.trace.apply_to_schedule(sch, remove_postproc=False)
        return True

    return ms.database.OrderedUnionDatabase(store_database, ms.database.ScheduleFnDatabase(schedule))
