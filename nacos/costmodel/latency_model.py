"""The latency model of one board: a network's end-to-end latency after tuning, with a spread.

Two levels, because tuned tasks are many more examples than measured networks:
1. `TaskModel`: XGBoost on a task's program features (`features.task_features`) predicts the
   log of its tuned run time; trained on every workload of the board's record store (its best
   record's time, its record count as the tuning effort).
2. The network model: the schedule estimate of a network is the weighted sum over its tasks of
   the store's best measured time where the store knows the task, the task model's prediction
   where it does not. A line (scale x estimate + a fixed overhead per network call) calibrates
   it; an ensemble of shallow XGBoost regressors, started from the log of that line (base
   margin), learns the correction to the measured latency from the architecture features, the
   estimate and the share of time that is measured rather than predicted. The ensemble's spread
   (bootstrap resamples) is the uncertainty.

The store's times and the networks' latencies must be measured alike (same machine state, no
other load): `nacos costmodel retime` and `nacos costmodel collect --retime` see to it.

Saved as the folder `latency_model/` beside the records (`persist`): `task.ubj`, `network-0.ubj`
... (XGBoost's UBJSON) and `model.json` (board, target, seeds, the calibration line, feature
names, the workloads the task model learnt from). The shipped x86 model takes 1.2 MB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import NacosError
from .features import ARCH_FEATURES, arch_features, task_feature_names, task_features
from .persist import layer_with, load_model, malformed, save_model

MODEL_FILE = "latency_model"  # a folder: persist.save_model
LEGACY_PICKLE = "latency_model.pkl"  # what NACOS saved before, refused on load
LEGACY_FILES = (LEGACY_PICKLE, "latency_model.json")  # the pickle and its summary, removed by a save
REFIT = "nacos costmodel fit --target BOARD --data DATASET"
NETWORK_EXTRA_FEATURES = ("log_schedule_estimate_ms", "measured_share")
ENSEMBLE = 8
MIN_NETWORKS = 4  # measured networks a fit needs at the least
PLANNED_TRIALS = 16  # the tuning effort assumed for a task the store does not know
TASK_PARAMS = dict(n_estimators=300, max_depth=6, learning_rate=0.08, subsample=0.8, colsample_bytree=0.5,
                   tree_method="hist", n_jobs=2)
NETWORK_PARAMS = dict(n_estimators=60, max_depth=2, learning_rate=0.1, subsample=0.8, colsample_bytree=0.8,
                      min_child_weight=2.0, reg_lambda=5.0, tree_method="hist", n_jobs=2)


@dataclass(frozen=True)
class TaskTime:
    key: str
    weight: int
    seconds: float  # measured best, or predicted
    measured: bool


@dataclass(frozen=True)
class Prediction:
    latency_ms: float
    spread: float  # std of log-latency over the ensemble
    schedule_estimate_ms: float  # weighted sum of task times
    measured_share: float  # of the schedule estimate, the part the store measured

    def to_json(self) -> dict:
        return {"latency_ms": self.latency_ms, "spread": self.spread,
                "low_ms": self.latency_ms * math.exp(-self.spread), "high_ms": self.latency_ms * math.exp(self.spread),
                "schedule_estimate_ms": self.schedule_estimate_ms, "measured_share": self.measured_share}


def store_workloads(folder: Path) -> dict[str, tuple[object, float | None, int]]:
    """key -> (PrimFunc module, best mean run time in s, valid record count) of every workload of
    the record store in `folder` (read from its files, without decoding the records). The time
    is None for a workload whose trials all failed (the build then uses TVM's default schedule)."""
    from ..records import best_times, workload_mods

    best = best_times(folder)
    return {k: (mod, *best.get(k, (None, 0))) for k, mod in workload_mods(folder).items()}


def timed(workloads: dict) -> dict:
    """The workloads that have a measured best time."""
    return {k: v for k, v in workloads.items() if v[1] is not None}


class TaskModel:
    def __init__(self, target_dict: dict, seed: int = 0):
        self.target_dict = target_dict
        self.seed = seed
        self.booster = None  # xgboost.Booster
        self.trained_keys: frozenset[str] = frozenset()  # the workloads it learnt from

    def fit(self, workloads: dict[str, tuple[object, float, int]]) -> TaskModel:
        import xgboost

        if len(workloads) < 8:
            raise NacosError(f"the task model needs at least 8 tuned workloads in the record store "
                             f"(found {len(workloads)}); tune some networks first")
        workloads = timed(workloads)
        x = np.stack([task_features(mod, self.target_dict, count) for mod, _, count in workloads.values()])
        y = np.log([secs for _, secs, _ in workloads.values()])
        self.booster = xgboost.XGBRegressor(random_state=self.seed, **TASK_PARAMS).fit(x, y).get_booster()
        self.trained_keys = frozenset(workloads)
        return self

    def predict_seconds(self, tasks: Sequence, trials: int = PLANNED_TRIALS) -> np.ndarray:
        """Predicted tuned seconds of tasks (PrimFunc modules or task objects, see `task_features`)."""
        if not tasks:
            return np.zeros(0)
        x = np.stack([task_features(task, self.target_dict, trials) for task in tasks])
        return np.exp(self.booster.inplace_predict(x).astype(np.float64))  # as XGBRegressor.predict does

    def to_json(self) -> dict:
        return {"seed": self.seed, "booster": "task", "feature_names": task_feature_names(),
                "trained_keys": sorted(self.trained_keys)}

    @staticmethod
    def from_json(target_dict: dict, data: dict, boosters: dict) -> TaskModel:
        if data["feature_names"] != task_feature_names():
            raise ValueError("the task model was fitted on other task features than this NACOS computes")
        model = TaskModel(target_dict, int(data["seed"]))
        model.booster = _nthreads(boosters[data["booster"]], TASK_PARAMS)
        model.trained_keys = frozenset(str(k) for k in data["trained_keys"])
        return model


def _nthreads(booster, params: dict):
    """A loaded booster with the thread count it was fitted with (a save does not keep it)."""
    booster.set_param({"nthread": params["n_jobs"]})
    return booster


def task_times(tasks, known: dict[str, float], task_model: TaskModel,
               trials: int = PLANNED_TRIALS) -> list[TaskTime]:
    """Each task's time: the store's measured best where known, the task model's otherwise
    (after `trials` tuning trials, the effort the unknown tasks will get)."""
    unknown = [t for t in tasks if t.key not in known]
    predicted = dict(zip((t.key for t in unknown), task_model.predict_seconds(unknown, trials=trials)))
    return [TaskTime(t.key, t.weight, known[t.key], True) if t.key in known
            else TaskTime(t.key, t.weight, float(predicted[t.key]), False) for t in tasks]


def schedule_features(times: Sequence[TaskTime]) -> tuple[float, float]:
    """(weighted sum of task times in ms, share of it that was measured)."""
    total = sum(t.weight * t.seconds for t in times)
    measured = sum(t.weight * t.seconds for t in times if t.measured)
    return total * 1e3, measured / total if total > 0 else 0.0


class NetworkModel:
    """log latency = log(scale * schedule estimate + overhead) + correction(arch features, ...).

    The calibration line is fitted on the training networks by least relative squares: the
    scale is what running kernels inside one network costs over timing them alone, the
    overhead (ms) what a call of the whole network costs besides its kernels. It alone brings
    the task sum within 10 % for most networks; the trees only learn what is left.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.members = []  # xgboost.Booster per ensemble member
        self.scale, self.overhead_ms = 1.0, 0.0

    def calibrate(self, estimates: np.ndarray, latencies: np.ndarray) -> None:
        """Fit latency ~ scale * estimate + overhead, minimising squared relative error; a
        negative overhead (too few or too alike networks) falls back to the median ratio."""
        rows = np.stack([estimates / latencies, 1.0 / latencies], axis=1)
        (scale, overhead), *_ = np.linalg.lstsq(rows, np.ones(len(latencies)), rcond=None)
        if scale <= 0 or overhead < 0:
            scale, overhead = float(np.median(latencies / estimates)), 0.0
        self.scale, self.overhead_ms = float(scale), float(overhead)

    def margin(self, estimates: np.ndarray) -> np.ndarray:
        return np.log(self.scale * estimates + self.overhead_ms)

    @staticmethod
    def rows(descriptions, schedules: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack([np.concatenate([arch_features(d), [math.log(est), share]])
                      for d, (est, share) in zip(descriptions, schedules)])
        return x, np.asarray([est for est, _ in schedules], dtype=np.float64)

    def fit(self, descriptions, schedules, latencies_ms: Sequence[float]) -> NetworkModel:
        import xgboost

        x, estimates = self.rows(descriptions, schedules)
        latencies = np.asarray(latencies_ms, dtype=np.float64)
        self.calibrate(estimates, latencies)
        y, margin = np.log(latencies), self.margin(estimates)
        rng = np.random.default_rng(self.seed)
        self.members = []
        for member in range(ENSEMBLE):
            pick = rng.integers(0, len(y), len(y)) if member else np.arange(len(y))
            model = xgboost.XGBRegressor(random_state=self.seed + member, **NETWORK_PARAMS)
            model.fit(x[pick], y[pick], base_margin=margin[pick])
            self.members.append(model.get_booster())
        return self

    def predict_log(self, descriptions, schedules) -> np.ndarray:
        """(members, networks) predicted log-latency."""
        import xgboost

        x, estimates = self.rows(descriptions, schedules)
        margin = self.margin(estimates)
        return np.stack([m.predict(xgboost.DMatrix(x, base_margin=margin)) for m in self.members])

    @staticmethod
    def feature_names() -> list[str]:
        return [*ARCH_FEATURES, *NETWORK_EXTRA_FEATURES]

    def to_json(self) -> dict:
        return {"seed": self.seed, "scale": self.scale, "overhead_ms": self.overhead_ms,
                "members": [f"network-{i}" for i in range(len(self.members))],
                "feature_names": self.feature_names()}

    @staticmethod
    def from_json(data: dict, boosters: dict) -> NetworkModel:
        if data["feature_names"] != NetworkModel.feature_names():
            raise ValueError("the network model was fitted on other architecture features than this NACOS computes")
        model = NetworkModel(int(data["seed"]))
        model.scale, model.overhead_ms = float(data["scale"]), float(data["overhead_ms"])
        model.members = [_nthreads(boosters[name], NETWORK_PARAMS) for name in data["members"]]
        if not model.members:
            raise ValueError("the network model has no ensemble members")
        return model


@dataclass
class LatencyModel:
    """A board's fitted task and network models, saved under the board's record store folder."""

    board: str
    target_dict: dict
    task_model: TaskModel
    network_model: NetworkModel
    trained_on: int

    def predict(self, description, tasks, known: dict[str, float], trials: int = PLANNED_TRIALS) -> Prediction:
        times = task_times(tasks, known, self.task_model, trials)
        schedule = schedule_features(times)
        logs = self.network_model.predict_log([description], [schedule])[:, 0]
        return Prediction(float(np.exp(logs.mean())), float(logs.std()), schedule[0], schedule[1])

    def predict_genotype(self, space, genotype, task_cache, best: dict[str, tuple[float, int]],
                         trials: int = PLANNED_TRIALS) -> tuple[Prediction, list, dict[str, float]]:
        """Predict a genotype from its tasks (`spaces.task_cache.TaskCache`) and the record
        store's best times (`records.best_times`). Returns the prediction, the tasks and the
        store's known task times; `trials`: what each unknown task will be tuned with."""
        tasks = task_cache.tasks(space, genotype)
        known = {t.key: best[t.key][0] for t in tasks if t.key in best}
        return self.predict(space.describe(genotype), tasks, known, trials), tasks, known

    def save(self, folder: Path) -> Path:
        """Write `folder/latency_model/` (replacing an old pickled model there); returns that folder."""
        network = self.network_model.to_json()
        boosters = {"task": self.task_model.booster, **dict(zip(network["members"], self.network_model.members))}
        meta = {"board": self.board, "trained_on": self.trained_on, "target": self.target_dict,
                "network_model": network, "task_model": self.task_model.to_json()}
        return save_model(folder, MODEL_FILE, meta, boosters, remove=LEGACY_FILES)

    @staticmethod
    def saved(folders) -> bool:
        """Whether a layer holds a latency model, or something in its place that `load` refuses."""
        folder = layer_with(folders, MODEL_FILE, (LEGACY_PICKLE,))
        return any((folder / name).exists() for name in (MODEL_FILE, LEGACY_PICKLE))

    @staticmethod
    def load(folders) -> LatencyModel:
        """The model of the first layer that has one (the user's refit before the shipped one)."""
        folder = layer_with(folders, MODEL_FILE, (LEGACY_PICKLE,))
        loaded = load_model(folder, MODEL_FILE, REFIT, legacy=(LEGACY_PICKLE,))
        if loaded is None:
            raise NacosError(f"no latency model in '{folder}'; fit one with `{REFIT}`")
        meta, boosters = loaded
        try:
            target = meta["target"]
            if not isinstance(target, dict):
                raise TypeError("'target' is not an object")
            return LatencyModel(str(meta["board"]), target, TaskModel.from_json(target, meta["task_model"], boosters),
                                NetworkModel.from_json(meta["network_model"], boosters), int(meta["trained_on"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise malformed(folder, MODEL_FILE, exc, REFIT) from None


# ---------------------------------------------------------------------- fitting and judging


@dataclass(frozen=True)
class StoredTask:
    """A task of a measured sample, found again in the record store by its key."""

    key: str
    weight: int
    prim_func_mod: object
    name: str = ""


def sample_tasks(sample: dict, workloads: dict) -> list[StoredTask]:
    missing = [t["key"] for t in sample["tasks"] if t["key"] not in workloads]
    if missing:
        raise NacosError(f"sample {sample.get('key')} has {len(missing)} tasks the record store does not hold; "
                         f"fit with the store the data set was collected with (--schedules)")
    return [StoredTask(t["key"], int(t["weight"]), workloads[t["key"]][0], t.get("name", ""))
            for t in sample["tasks"]]


def task_sum_ms(sample: dict, workloads: dict) -> float:
    """Weighted sum of the store's best times of a sample's tasks (an untimed task counts 0)."""
    return sum(t["weight"] * (workloads[t["key"]][1] or 0.0) for t in sample["tasks"]) * 1e3


def describe_sample(sample: dict):
    from ..spaces import Genotype, get_space

    space = get_space(sample["space"])
    return space.describe(space.validate(Genotype.from_json(sample["genotype"])))


def _out_of_fold_task_seconds(workloads: dict, target_dict: dict, folds: int, seed: int) -> dict[str, float]:
    """Each timed workload's time as predicted by a task model that did not see it."""
    workloads = timed(workloads)
    keys = list(workloads)
    order = np.random.default_rng(seed).permutation(len(keys))
    predicted = {}
    for fold in range(folds):
        held = {keys[i] for i in order[fold::folds]}
        model = TaskModel(target_dict, seed).fit({k: v for k, v in workloads.items() if k not in held})
        held_keys = sorted(held)
        secs = model.predict_seconds([workloads[k][0] for k in held_keys], trials=PLANNED_TRIALS)
        predicted.update(zip(held_keys, secs.tolist()))
    return predicted


def check_enough(samples: list[dict]) -> None:
    if len(samples) < MIN_NETWORKS:
        raise NacosError(f"a latency model needs at least {MIN_NETWORKS} measured networks (got {len(samples)}); "
                         f"collect more with nacos costmodel collect")


def fit_latency_model(samples: list[dict], folder: Path, board, seed: int = 0,
                      exclude: frozenset[str] = frozenset()) -> LatencyModel:
    """Fit both levels; the network model sees each sample twice: with the store's measured task
    times, and with out-of-fold predicted ones, as a search meets networks of either kind.

    `exclude`: workload keys the task model must not learn from (a benchmark hides every task of
    its held-out networks). Fitting networks may share them: their measured view still uses the
    store's times (real measurements of those networks), their blind view the task model's
    prediction, which never saw the task, as the out-of-fold one did not see the others.
    """
    check_enough(samples)
    target_dict = board.tvm_target
    workloads = store_workloads(folder)
    learnable = {k: v for k, v in workloads.items() if k not in exclude}
    task_model = TaskModel(target_dict, seed).fit(learnable)
    oof = _out_of_fold_task_seconds(learnable, target_dict, folds=5, seed=seed)
    descriptions, schedules, labels = [], [], []
    for sample in samples:
        tasks = sample_tasks(sample, workloads)
        description = describe_sample(sample)
        measured = task_times(tasks, {t.key: workloads[t.key][1] for t in tasks if workloads[t.key][1] is not None},
                              task_model)
        # blind: a prediction by a task model that did not see the task instead of each measured
        # time (a task whose trials all failed is predicted in both views)
        excluded = [t for t in tasks if t.key not in oof and workloads[t.key][1] is not None]
        unseen = {**oof, **dict(zip((t.key for t in excluded), task_model.predict_seconds(excluded).tolist()))}
        blind = [replace(t, seconds=unseen[t.key], measured=False) if t.measured else t for t in measured]
        for times in (measured, blind):
            descriptions.append(description)
            schedules.append(schedule_features(times))
            labels.append(sample["latency_ms"])
    network_model = NetworkModel(seed).fit(descriptions, schedules, labels)
    return LatencyModel(board.name, target_dict, task_model, network_model, trained_on=len(samples))


def score(predicted: Sequence[float], measured: Sequence[float]) -> dict:
    from scipy.stats import kendalltau, spearmanr

    p, m = np.asarray(predicted, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    relative = np.abs(p - m) / m
    many = len(m) > 2
    return {"n": len(m), "mape": float(relative.mean()), "within_10pct": float((relative <= 0.10).mean()),
            "spearman": float(spearmanr(p, m).statistic) if many else float("nan"),
            "kendall": float(kendalltau(p, m).statistic) if many else float("nan")}


def predict_samples(model: LatencyModel, samples: list[dict], folder: Path) -> dict[str, list[float]]:
    """Predicted ms of measured networks: with the store's task times (how the search uses it)
    and blind (every task predicted, as for a network whose tasks were never tuned)."""
    workloads = store_workloads(folder)
    results = {"known": [], "blind": []}
    for sample in samples:
        tasks = sample_tasks(sample, workloads)
        description = describe_sample(sample)
        known = {t.key: workloads[t.key][1] for t in tasks if workloads[t.key][1] is not None}
        results["known"].append(model.predict(description, tasks, known).latency_ms)
        results["blind"].append(model.predict(description, tasks, {}).latency_ms)
    return results


def evaluate_latency_model(model: LatencyModel, samples: list[dict], folder: Path) -> dict:
    """`score` of both kinds of `predict_samples`."""
    measured = [s["latency_ms"] for s in samples]
    return {mode: score(values, measured) for mode, values in predict_samples(model, samples, folder).items()}
