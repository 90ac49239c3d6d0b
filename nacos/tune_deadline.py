"""A MetaSchedule search strategy that stops proposing candidates at a wall-clock deadline.

MetaSchedule budgets a tune in trials; a user's budget is minutes. Wrapped around each task's
evolutionary search, this one returns no candidates once the deadline has passed: the task
scheduler then joins that task's batch in flight (so every trial measured is recorded) and
terminates the task, and the tune ends when all tasks are terminated. The overrun is therefore at
most one batch per task (with 64-candidate batches and 2 cores about a minute).
"""

from __future__ import annotations

import time

_CLASS = None


def _strategy_class():
    """The wrapper class, made once (TVM is imported only when a tune runs)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.search_strategy import PySearchStrategy

    @derived_object
    class DeadlineSearch(PySearchStrategy):
        def __init__(self, inner, deadline: float):
            self.inner = inner  # the search that proposes until the deadline
            self.deadline = deadline  # time.monotonic() value

        def _initialize_with_tune_context(self, context) -> None:
            self.inner._initialize_with_tune_context(context)

        def pre_tuning(self, max_trials, num_trials_per_iter, design_spaces, database=None, cost_model=None):
            self.inner.pre_tuning(max_trials, num_trials_per_iter, design_spaces, database, cost_model)

        def post_tuning(self) -> None:
            self.inner.post_tuning()

        def generate_measure_candidates(self):
            if time.monotonic() >= self.deadline:
                return None
            return self.inner.generate_measure_candidates()

        def notify_runner_results(self, measure_candidates, results) -> None:
            self.inner.notify_runner_results(measure_candidates, results)

        def clone(self):
            return DeadlineSearch(self.inner.clone(), self.deadline)

    _CLASS = DeadlineSearch
    return _CLASS


def until(inner, deadline: float):
    """`inner` (a MetaSchedule SearchStrategy) that proposes nothing after `deadline` (monotonic s)."""
    return _strategy_class()(inner, deadline)
