"""Tune the tasks of a network that the record store does not know yet, within a global budget.

A tune is resumable: its plan (which tasks, how many trials, how many records each task had when
the plan was made) is written to the run folder before any trial, and measured trials reach the
store after every batch MetaSchedule measures (through the run's own database, tune_database.py,
so that other processes can tune into the same store at the same time). Run again with the same
folder and only the trials still owed are spent. With a wall-clock budget (`seconds`) the plan
also keeps the tuning seconds spent, so a resumed tune gets only the time still owed.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .board import Board
from .errors import NacosError
from .records import RecordStore
from .rundir import write_json
from .tasks import Task
from .tune_database import TuneDatabase

PLAN_FILE = "tune_plan.json"


@dataclass
class SearchSettings:
    """MetaSchedule knobs; the defaults trade a little search quality for trials per second."""

    trials_per_iter: int = 64
    population_size: int = 128  # stock 512 x 4 genetic iterations: ~4 s per search iteration
    genetic_num_iters: int = 2  # here ~1.5 s
    init_min_unmeasured: int = 50
    min_repeat_ms: int = 20  # stock 100: each candidate's timing ran 100 ms at least
    number: int = 3
    repeat: int = 1
    seed: int = 0
    # record store folders whose records (other workloads only) train the cost model before the
    # first trial (warm_start.py); empty: MetaSchedule's cold start
    warm_start_from: tuple[Path, ...] = ()
    # record store folders whose records of similar workloads give each new task its first trial
    # (transfer.py), which the evolutionary search then starts from; empty: none
    transfer_from: tuple[Path, ...] = ()


@dataclass
class TuneResult:
    tasks: list[Task]
    planned: list[str]  # keys of the tasks this run tuned (the rest came from the store)
    trials_budget: int
    trials_spent: int  # by this plan in all, including trials of an interrupted run
    trials_resumed: int  # of those, spent before this call (found in the store)
    seconds: float
    best_seconds: dict[str, float | None] = field(default_factory=dict)
    seconds_budget: float | None = None  # the wall-clock budget, None for trials only

    @property
    def estimated_latency(self) -> float | None:
        """Sum of weight x best task time in seconds; None while a task has no record.

        Measured: 6.94 ms summed vs 8.70 ms end to end for MobileNetV2 (VM and copy overheads).
        """
        total = 0.0
        for task in self.tasks:
            best = self.best_seconds.get(task.key)
            if best is None:
                return None
            total += task.weight * best
        return total

    def to_json(self) -> dict:
        est = self.estimated_latency
        return {
            "tasks": [{"name": t.name, "key": t.key, "weight": t.weight,
                       "tuned_here": t.key in self.planned,
                       "best_us": None if self.best_seconds.get(t.key) is None else self.best_seconds[t.key] * 1e6}
                      for t in self.tasks],
            "trials_budget": self.trials_budget, "trials_spent": self.trials_spent,
            "trials_resumed": self.trials_resumed,
            "seconds": self.seconds, "seconds_budget": self.seconds_budget,
            "trials_per_second": ((self.trials_spent - self.trials_resumed) / self.seconds
                                  if self.seconds > 0 and self.trials_spent > self.trials_resumed else None),
            "estimated_latency_ms": None if est is None else est * 1e3,
        }


def _make_plan(tasks: list[Task], store: RecordStore, trials: int, seconds: float | None) -> dict:
    new = [t for t in tasks if not store.known(t)]
    plan = {"trials": trials,
            "tasks": [{"key": t.key, "name": t.name, "records_before": store.count(t)} for t in new]}
    if seconds is not None:
        plan.update(seconds=seconds, seconds_spent=0.0)
    return plan


def load_or_make_plan(run_dir: Path, tasks: list[Task], store: RecordStore, trials: int,
                      seconds: float | None = None) -> dict:
    """The plan of an interrupted tune of the same network, else a new one (written first)."""
    path = run_dir / PLAN_FILE
    keys = {t.key for t in tasks}
    if path.exists():
        plan = json.loads(path.read_text())
        if {p["key"] for p in plan["tasks"]} <= keys and plan["trials"] == trials and plan.get("seconds") == seconds:
            return plan
    plan = _make_plan(tasks, store, trials, seconds)
    write_json(path, plan)
    return plan


def _spent(plan: dict, by_key: dict[str, Task], store: RecordStore) -> int:
    return sum(max(0, store.count(by_key[p["key"]]) - p["records_before"]) for p in plan["tasks"])


def _merge(private: TuneDatabase, store: RecordStore, mods: dict, after_kill: bool = False) -> int:
    """`private.merge`, with a failure (a read-only store, a full disk) as one NacosError line; the
    measurements stay in the run folder and the next run of the same command merges them."""
    try:
        return private.merge(store, mods, after_kill=after_kill)
    except NacosError:
        raise
    except Exception as exc:
        raise NacosError(f"could not merge the tune's records into {store.path} ({type(exc).__name__}: "
                         f"{exc}); they are kept in {private.folder}: run the same command again to merge "
                         f"them") from None


def trials_per_iter(remaining: int, n_tasks: int, most: int) -> int:
    """Candidates per task per search iteration.

    Larger batches amortise the evolutionary search (seconds per iteration, whatever the batch);
    but MetaSchedule's gradient scheduler first sends one batch of every task and only then
    measures and records any of them, so a kill during that first round loses it. The first
    round is therefore kept to at most half of the budget (batches of 8 or more where the budget
    allows it).
    """
    even = max(1, remaining // n_tasks)
    return max(1, min(most, max(min(8, even), remaining // (2 * n_tasks))))


def _cost_model(settings: SearchSettings, board: Board, tasks: list[Task], threads: int):
    """MetaSchedule's XGBoost model, cold or warm-started from `settings.warm_start_from`."""
    if not settings.warm_start_from:
        return "xgb"
    from .warm_start import warm_xgb
    from .tasks import unmarked_key

    own = {t.key for t in tasks} | {unmarked_key(t.prim_func_mod) for t in tasks}  # packed or not
    model = warm_xgb(list(settings.warm_start_from), board.target(), exclude=own, num_tuning_cores=threads,
                     seed=settings.seed)
    if model is None:
        logging.getLogger("nacos").warning("no records of other workloads in %s to warm-start from: the cost "
                                           "model starts cold", ", ".join(map(str, settings.warm_start_from)))
        return "xgb"
    return model


def _tune_tasks(ctxs, planned: list[Task], run_dir: Path, trials: int, per_iter: int, builder, runner, database,
                cost_model, merge, progress) -> None:
    """MetaSchedule's gradient task scheduler over the new tasks, with NACOS's merge and progress
    callbacks around its own ones."""
    from tvm.s_tir import meta_schedule as ms

    ms.tune_tasks(tasks=ctxs, task_weights=[float(t.weight) for t in planned],
                  work_dir=str(run_dir / "tune_logs"), max_trials_global=trials,
                  num_trials_per_iter=per_iter, builder=builder, runner=runner,
                  database=database, cost_model=cost_model,
                  measure_callbacks=[ms.measure_callback.AddToDatabase(), merge,
                                     ms.measure_callback.RemoveBuildArtifact(),
                                     ms.measure_callback.UpdateCostModel(), progress],
                  task_scheduler="gradient")


def _seed_transferred(planned: list[Task], settings: SearchSettings, board: Board, builder, runner,
                      database) -> tuple[int, dict[str, float]]:
    """Measure, as each new task's first trial, the schedule transferred from its nearest similar
    workload (transfer.py); the evolutionary search's first population then takes it from the
    database like any measured record. Returns the trials spent (failed ones are not recorded)
    and the seconds each recorded one took."""
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms

    from .transfer import transfer

    target = board.target()
    moved = transfer(planned, list(settings.transfer_from), target)
    items = []
    for task in planned:
        if task.key in moved:
            sch = Schedule(task.prim_func_mod)
            moved[task.key].trace.apply_to_schedule(sch, remove_postproc=False)
            # the arguments as the schedule reads them: a weight layout rewrite changes their shapes
            items.append((task, sch, ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True)))
    if not items:
        return 0, {}
    built = builder.build([ms.builder.BuilderInput(sch.mod, target) for _, sch, _ in items])
    ok = [(item, b) for item, b in zip(items, built) if b.error_msg is None]
    futures = runner.run([ms.runner.RunnerInput(b.artifact_path, "cpu", args) for (_, _, args), b in ok])
    times = {}
    for ((task, sch, args), b), future in zip(ok, futures):
        result = future.result()
        if result.error_msg is None and result.run_secs:
            database.commit_tuning_record(ms.database.TuningRecord(
                sch.trace, database.commit_workload(task.prim_func_mod), result.run_secs, target, args))
            times[task.key] = sum(float(x) for x in result.run_secs) / len(result.run_secs)
        ms.utils.remove_build_dir(b.artifact_path)
    return len(items), times


def tune(tasks: list[Task], board: Board, store: RecordStore, run_dir: Path, trials: int,
         settings: SearchSettings | None = None, rpc: tuple[str, int, str] | None = None,
         progress: bool = True, seconds: float | None = None) -> TuneResult:
    """Tune the tasks the store does not know, spending at most `trials` measured trials and, with
    `seconds`, proposing no new candidates after that many seconds of tuning (tune_deadline.py)."""
    import time

    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    from . import tune_deadline
    from . import worker_pools
    from .builder import import_cpu_intrinsics, intrinsic_family

    import_cpu_intrinsics(intrinsic_family(board.target()))  # the schedule rules would import the CUDA ones too
    settings = settings or SearchSettings()
    run_dir.mkdir(parents=True, exist_ok=True)
    by_key = {t.key: t for t in tasks}
    mods = {t.key: t.prim_func_mod for t in tasks}
    private = TuneDatabase(run_dir)
    if private.left_over():  # a killed run's last measurements count before the plan is read
        _merge(private, store, mods, after_kill=True)
        private.remove()
    plan = load_or_make_plan(run_dir, tasks, store, trials, seconds)
    planned = [by_key[p["key"]] for p in plan["tasks"]]
    already = _spent(plan, by_key, store)
    remaining = max(0, trials - already)
    seconds_left = None if seconds is None else seconds - plan["seconds_spent"]
    best = {t.key: store.best_seconds(t) for t in tasks}
    start = time.perf_counter()
    deadline = time.monotonic() + (seconds_left if seconds_left is not None else math.inf)
    spent_now = 0

    def save_clock():
        """The tuning seconds spent, in the plan a resumed timed tune continues from."""
        if seconds is not None:
            write_json(run_dir / PLAN_FILE, {**plan, "seconds_spent": seconds - seconds_left + time.perf_counter() - start})

    if planned and remaining > 0 and (seconds_left is None or seconds_left > 0):
        if remaining < len(planned):
            logging.getLogger("nacos").warning(
                "%d trials for %d new tasks: some tasks will stay untuned (slow)", remaining, len(planned))
        per_iter = trials_per_iter(remaining, len(planned), settings.trials_per_iter)
        runner = worker_pools.runner(board, settings.number, settings.repeat, settings.min_repeat_ms, rpc)
        database = private.start(store, {t.key for t in planned})  # warm start: the store's records
        # MetaSchedule reports measurements only when it joins a round over all tasks; counting
        # built candidates keeps the bar moving, the measure callback updates the best latency.
        bar = tqdm(total=remaining if seconds is None else None,  # a timed tune ends by the clock
                   desc=f"tune {len(planned)} new tasks", unit="trial",
                   disable=not progress, dynamic_ncols=True)
        builder = worker_pools.builder(board)
        builder.on_batch = bar.update
        ctxs = [ms.TuneContext(
            mod=t.prim_func_mod, target=board.target(), task_name=t.name,
            space_generator="post-order-apply",
            search_strategy=tune_deadline.until(ms.search_strategy.EvolutionarySearch(
                population_size=settings.population_size,
                genetic_num_iters=settings.genetic_num_iters,
                init_min_unmeasured=settings.init_min_unmeasured), deadline),
            rand_state=settings.seed + i, num_threads="physical",
            logger=logging.getLogger(f"nacos.tune.{t.name}")).clone() for i, t in enumerate(planned)]

        merge_failed: list[Exception] = []

        @derived_object
        class _Merge(ms.measure_callback.PyMeasureCallback):
            """Merges each measured batch into the shared store (an error waits for the end)."""

            def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
                if not merge_failed:
                    try:
                        private.merge(store, mods)
                        save_clock()
                    except Exception as exc:  # raised from TVM's C++ loop it would be a traceback
                        merge_failed.append(exc)

        @derived_object
        class _Progress(ms.measure_callback.PyMeasureCallback):
            """Counts measured trials and shows the network latency the best records add up to."""

            def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
                nonlocal spent_now
                task = planned[task_id]
                for res in runner_results:
                    if res.run_secs and not res.error_msg:
                        secs = sum(float(s) for s in res.run_secs) / len(res.run_secs)
                        if best[task.key] is None or secs < best[task.key]:
                            best[task.key] = secs
                spent_now += len(runner_results)
                done = [t for t in tasks if best[t.key] is not None]
                est = sum(t.weight * best[t.key] for t in done)
                bar.set_postfix_str(f"tasks {len(done)}/{len(tasks)} est {est * 1e3:.3f} ms"
                                    + ("" if len(done) == len(tasks) else " (partial)")
                                    + ("" if seconds is None else
                                       f", {max(0.0, deadline - time.monotonic()):.0f} s left"))

        try:
            if settings.transfer_from:  # not again for a task a killed run seeded already
                seeded, times = _seed_transferred([t for t in planned if not store.known(t)], settings, board,
                                                  builder, runner, database)
                spent_now += seeded
                best.update({k: v for k, v in times.items() if best[k] is None or v < best[k]})
            if remaining - spent_now > 0:
                _tune_tasks(ctxs, planned, run_dir, remaining - spent_now, per_iter, builder, runner, database,
                            _cost_model(settings, board, tasks, ctxs[0].num_threads), _Merge(), _Progress())
        finally:
            bar.close()
            builder.on_batch = None
        # what a failed batch merge left (it may have appended part of a batch: skip what is there),
        # failing again as one line
        _merge(private, store, mods, after_kill=bool(merge_failed))
        private.remove()
        save_clock()
    return TuneResult(tasks=tasks, planned=[t.key for t in planned], trials_budget=trials,
                      trials_spent=already + spent_now, trials_resumed=already, seconds=time.perf_counter() - start,
                      best_seconds=best, seconds_budget=seconds)

