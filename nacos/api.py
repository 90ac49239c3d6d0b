"""The public Python API; the `nacos` commands are thin layers over it.

    import nacos

    summary = nacos.tune("builtin:tiny-cnn", out="runs/tiny", trials=200)
    nacos.export("runs/tiny", target="rpi4", out="artifacts/tiny-rpi4")
    study = nacos.search("mbconv", dataset="digits", budget="10m", out="runs/s1")
    study.front                                  # the measured Pareto points
    nacos.load_study("runs/s1").report()

Boards, spaces and strategies are given by name (as on the command line) or as objects (a
`Board`, a `Space`, a `Strategy`). Every user error is a `NacosError` with the one-line message
the command prints, so the same input fails the same way from Python and from the shell.
Nothing here imports TVM or torch at import time: `import nacos` stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import measuring
from .board import Board
from .errors import NacosError
from .search.config import SearchConfig

_DEFAULTS = SearchConfig()  # one set of search defaults for the API and `nacos search`
DEFAULT_TRIALS = 1000  # a tune's trial budget when it has no time budget
UNLIMITED_TRIALS = 10**7  # a timed tune's: the clock ends it


# ----------------------------------------------------------------------------- shared checks


def _board(target: str | os.PathLike | Board) -> Board:
    """A Board as given, or the one a name or a .toml path names."""
    from .board import load_board

    return target if isinstance(target, Board) else load_board(str(target))


def _path(value) -> Path | None:
    return None if value is None else Path(value)


def _shape(value) -> tuple[int, ...]:
    """'1,3,224,224' or (1, 3, 224, 224), checked as --input-shape is."""
    from .network import parse_shape

    return parse_shape(value if isinstance(value, str) else ",".join(str(d) for d in value))


def _network(model, shapes: list[tuple[int, ...]]):
    from .network import from_torch, load_network

    if isinstance(model, (str, os.PathLike)):
        return load_network(str(model), shapes)
    import torch

    if isinstance(model, torch.nn.Module):
        return from_torch(model, shapes, name=type(model).__name__)
    raise NacosError(f"a model is FILE.onnx, FILE.py:FUNCTION, builtin:NAME or a torch.nn.Module, "
                     f"not {type(model).__name__}")


def _reference(value) -> tuple[float, float]:
    """'0.5,20' or (0.5, 20): the hypervolume reference point (accuracy, latency ms)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = ",".join(str(v) for v in value)
        except TypeError:
            text = str(value)
    try:
        accuracy, latency = (float(v) for v in text.split(","))
    except ValueError:
        raise NacosError(f"bad --reference '{text}': give ACCURACY,LATENCY_MS such as 0.5,20") from None
    if not 0 <= accuracy < 1 or latency <= 0:
        raise NacosError(f"bad --reference '{text}': accuracy in [0, 1), latency above 0 ms")
    return accuracy, latency


def _seconds(budget) -> float:
    """'45m', '1h', '600s' or a number of seconds."""
    from .search.config import parse_budget

    return parse_budget(budget) if isinstance(budget, str) else float(budget)


def _named(value, what: str, base: type):
    """(name, object): a name passes as is (object None); an object passes with its name."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, base):
        raise NacosError(f"give the search {what} as a name or a {base.__name__} object, not {type(value).__name__}")
    return getattr(value, "name", type(value).__name__), value


# ----------------------------------------------------------------------------- tune and export


def tune(model, *, out, target: str | os.PathLike | Board = "x86", trials: int | None = None,
         minutes: float | None = None, input_shapes: Sequence | None = None, schedules=None, rpc=None,
         rpc_key: str | None = None, repeat: int = 50, progress: bool = True) -> dict:
    """Tune a model for a board, build it with the records, check it and time it: `nacos tune`.

    `model` is what the command takes (FILE.onnx, FILE.py:FUNCTION, builtin:NAME) or a
    torch.nn.Module (put into eval mode; give `input_shapes`). `input_shapes`: one shape per
    input, as (1, 3, 224, 224) or '1,3,224,224'. `rpc`: (host, port, key) or 'HOST:PORT' with
    `rpc_key`. `trials`: the global trial budget (default 1000; with `minutes`, no trial limit);
    `minutes`: stop proposing new candidates after that many minutes of tuning. Rerun with the same
    `out` to resume (a timed tune gets the minutes it still owes). Returns the summary kept as
    result.json.
    """
    if trials is None:
        trials = DEFAULT_TRIALS if minutes is None else UNLIMITED_TRIALS
    if trials < 0:
        raise NacosError(f"--trials must be 0 or more (got {trials})")
    if minutes is not None and not minutes > 0:
        raise NacosError(f"--minutes must be more than 0 (got {minutes})")
    board = _board(target)
    rpc = measuring.rpc_for(board, rpc, rpc_key, needed=trials > 0)  # refused before anything is written
    measuring.use_board_threads(board)
    network = _network(model, [_shape(s) for s in input_shapes or []])

    from .pipeline import tune_network

    return tune_network(network, board, Path(out), trials, schedules=_path(schedules), rpc=rpc, repeat=repeat,
                        progress=progress, seconds=None if minutes is None else 60.0 * minutes)


def export(run, *, out, target: str | os.PathLike | Board = "x86", pick: str | None = None, schedules=None,
           force: bool = False) -> dict:
    """Build a tuned run for a board and write a self-contained artifact: `nacos export`.

    `run` is a folder `tune` wrote, or a search folder (a Study's path) with `pick`, the key of
    one of its measured candidates. Returns what was written (path, ELF machine, records used).
    """
    board = _board(target)
    measuring.use_board_threads(board)
    folder = Path(run)
    if pick:
        folder = folder / "candidates" / pick
        if not folder.is_dir():
            raise NacosError(f"no measured candidate '{pick}' in '{run}'; `nacos report {run}` lists the front's keys")

    from .pipeline import export_run

    return export_run(folder, board, Path(out), schedules=_path(schedules), force=force)


# ----------------------------------------------------------------------------- search and studies


def search(space="mbconv", *, out, mode: str = _DEFAULTS.mode, target: str | os.PathLike | Board = _DEFAULTS.target,
           dataset: str = _DEFAULTS.dataset, budget: float | str = "45m", seed: int = _DEFAULTS.seed,
           strategy=_DEFAULTS.strategy, population: int = _DEFAULTS.population, children: int = _DEFAULTS.children,
           evaluate: int = _DEFAULTS.evaluate_per_generation, trials_per_task: int = _DEFAULTS.trials_per_task,
           final_share: float = _DEFAULTS.final_share, blind_share: float = _DEFAULTS.blind_share,
           train_epochs: float = _DEFAULTS.train_epochs, train_images: int = _DEFAULTS.train_images,
           reference=_DEFAULTS.reference, max_params: float | None = None, max_flops: float | None = None,
           max_peak_memory: float | None = None, resume: bool = False, schedules=None, rpc=None,
           rpc_key: str | None = None, progress: bool = True) -> Study:
    """Co-search architectures of a space and their schedules for a board: `nacos search`.

    `space` is a name or a Space object, `strategy` a name or a Strategy object, `target` a
    board name, a .toml path or a Board; the study keeps their names, so resume (`resume=True`,
    same settings) with the same objects. `budget` is seconds or '45m'; `evaluate` is the
    children trained per generation; `reference` the hypervolume reference (accuracy, latency
    ms). Returns the run's Study; its `result` is what the run reported.
    """
    from .search.strategy import Strategy
    from .spaces.base import Space

    space_name, space_object = _named(space, "space", Space)
    strategy_name, strategy_object = _named(strategy, "strategy", Strategy)
    config = SearchConfig(space=space_name, target=target.name if isinstance(target, Board) else str(target),
                          dataset=dataset, mode=mode, budget_seconds=_seconds(budget), seed=seed,
                          strategy=strategy_name, population=population, children=children,
                          evaluate_per_generation=evaluate, trials_per_task=trials_per_task,
                          train_epochs=train_epochs, train_images=train_images, final_share=final_share,
                          blind_share=blind_share, reference=_reference(reference), max_params=max_params,
                          max_flops=max_flops, max_peak_memory=max_peak_memory)
    config.check(strategy_given=strategy_object is not None)
    board = _board(target)
    rpc = measuring.rpc_for(board, rpc, rpc_key)
    measuring.use_board_threads(board)

    from .search.modes import create_search

    run = create_search(config, Path(out), resume=resume, schedules=_path(schedules), rpc=rpc, progress=progress,
                        board=board, space=space_object, strategy=strategy_object)
    try:
        result = run.run()
    finally:
        run.store.close()
    return Study(out, result)


def load_study(path) -> Study:
    """The search run in a folder (its study.db), to read; a folder without one is a NacosError."""
    return Study(path)


class Study:
    """A search run folder read through its study store (Optuna's Study). It only reads (opening
    an older study adds the newer schema's tables, as `nacos report` does), so a study may be
    read while its search is still running."""

    def __init__(self, path, result: dict | None = None):
        from .search.report import open_study

        self.path = Path(path)
        self.result = result  # what the search that returned this study reported (None when loaded)
        self._store = open_study(self.path)

    @property
    def front(self) -> list[dict]:
        """The measured Pareto front, fastest first: key, accuracy, latency_ms, genotype, ..."""
        from .search.report import measured_front, measured_points

        return measured_front(measured_points(self._store))

    @property
    def candidates(self) -> list[dict]:
        """Every candidate, oldest first, with its estimates as values {'objective/estimator': value}."""
        store = self._store
        return [{"key": c.key, "generation": c.generation, "origin": c.origin, "parents": list(c.parents),
                 "selected": c.selected, "genotype": c.genotype.to_dict(),
                 "values": {name: e.value for name, e in store.estimates(c).items()}}
                for c in store.candidates()]

    @property
    def settings(self) -> dict:
        """The settings the search was started with (`config`) and what it keeps beside them."""
        return self._store.settings()

    def report(self, reference=None) -> dict:
        """What `nacos report` shows: the front, hypervolume (at `reference`, default the study's),
        where the budget went, prediction quality, and every trained candidate (`all`)."""
        from .search.report import summarize

        return summarize(self._store, None if reference is None else _reference(reference))

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Study('{self.path}')"
