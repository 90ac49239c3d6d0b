"""The builder and runner worker processes of MetaSchedule, started once per process and shared
by every tune and record timing in it.

A worker imports TVM (3.5-5 s here) and its CPU family's tensor intrinsics (0.6 s x86, 4.5 s
ARM). When each tune made its own builder and runner, a search that tunes a few new tasks per
measured candidate paid that start for every candidate: at 6dc11a9 a measurement with one new
task at 8 trials took about 24 s, against 10-13 s when the store knew every task.
"""

from __future__ import annotations

from .board import Board
from .measuring import unmeasurable

_POOLS: dict[tuple, object] = {}


def builder(board: Board):
    """The board's `PersistentBuilder` (cross-compiling where the board is not this machine)."""
    from .builder import PersistentBuilder, intrinsic_family

    key = ("builder", board.name)
    if key not in _POOLS:
        _POOLS[key] = PersistentBuilder(cross_compiler=None if board.runs_locally else board.cross_compiler,
                                        family=intrinsic_family(board.target()))
    return _POOLS[key]


def runner(board: Board, number: int, repeat: int, min_repeat_ms: int, rpc: tuple[str, int, str] | None = None):
    """Local timing for this machine's boards, TVM's RPC tracker for others; one per settings."""
    from tvm.s_tir import meta_schedule as ms

    key = ("runner", board.name, number, repeat, min_repeat_ms, rpc)
    if key in _POOLS:
        return _POOLS[key]
    evaluator = ms.runner.EvaluatorConfig(number=number, repeat=repeat, min_repeat_ms=min_repeat_ms,
                                          enable_cpu_cache_flush=False)
    if rpc is not None:
        host, port, device_key = rpc
        made = ms.runner.RPCRunner(
            rpc_config=ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key=device_key,
                                           session_timeout_sec=120),
            evaluator_config=evaluator, max_workers=1)
    elif not board.runs_locally:
        raise unmeasurable(board)
    else:
        made = ms.runner.LocalRunner(evaluator_config=evaluator, timeout_sec=30)
    _POOLS[key] = made
    return made
