"""Few-shot latency prediction for a new device: source-device models + ten measurements.

Why this shape: latency on a new device is mostly a mix of what other devices already show
(a GPU at batch 1 ranks architectures like another GPU at batch 1, a Xeon like another Xeon),
plus device-specific op costs. So:

1. per source device, an XGBoost regressor learns log-latency from the architecture's static
   features (`nb201_features`); it sees only the genotype, so it also predicts architectures
   that were never measured;
2. for the target device, a ridge regression in log space on the few measured samples, over
   two groups of inputs: the source models' predictions (light penalty: pick the devices that
   look alike) and the standardised op counts, live-path op counts and log-FLOPs (heavy penalty:
   a small device-specific correction);
3. the same ridge refitted on bootstrap resamples of the samples gives a spread, a cheap
   uncertainty of each prediction.

The penalties and the XGBoost settings were chosen by leave-one-device-out among the nine
training devices of the shared data set only (tools/bench_fewshot.py prints that table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import NacosError
from .latency_table import LatencyTable, load_latency_table
from .nb201_features import FEATURE_NAMES, arch_features, flops

__all__ = ["FewShotPredictor", "LatencyTable", "SourceModels", "evaluate", "fit_fewshot", "load_latency_table",
           "run_fewshot", "flops_baseline"]

SOURCE_ALPHA = 0.25  # ridge penalty on the weights of the source-device predictions (log-ms)
ARCH_ALPHA = 8.0  # ridge penalty on the weights of the standardised arch features
BOOTSTRAPS = 32  # ridge refits on resampled samples, for the spread
XGB_PARAMS = dict(n_estimators=600, max_depth=4, learning_rate=0.1, subsample=0.8, colsample_bytree=0.8,
                  tree_method="hist", n_jobs=2, random_state=0)
# The arch features the target ridge sees: op counts (all edges and live-path ones) and log-FLOPs.
CORRECTION_FEATURES = tuple(i for i, name in enumerate(FEATURE_NAMES)
                            if (name.startswith(("count_", "live_")) and name != "live_none") or name == "log_flops")


class SourceModels:
    """One XGBoost regressor of log-latency on arch features per source device."""

    def __init__(self, table: LatencyTable, devices: Sequence[str], features: np.ndarray | None = None):
        import xgboost

        self.devices = table.check_devices(devices)
        if not self.devices:
            raise NacosError("give at least one source device")
        features = arch_features(table.archs) if features is None else features
        self.boosters = []  # xgboost.Booster per device
        for device in self.devices:
            model = xgboost.XGBRegressor(**XGB_PARAMS)
            model.fit(features, np.log(table.column(device)))
            self.boosters.append(model.get_booster())

    @classmethod
    def from_boosters(cls, devices: Sequence[str], boosters: Sequence) -> SourceModels:
        """Source models saved before (`board_fewshot`): one loaded booster per device."""
        if len(devices) != len(boosters) or not devices:
            raise ValueError(f"{len(devices)} source devices but {len(boosters)} source boosters")
        models = cls.__new__(cls)
        models.devices = list(devices)
        models.boosters = list(boosters)
        for booster in models.boosters:
            booster.set_param({"nthread": XGB_PARAMS["n_jobs"]})  # a saved booster does not keep it
        return models

    def predict_log(self, features: np.ndarray) -> np.ndarray:
        """(n archs, n source devices) predicted log-latency (as XGBRegressor.predict computes it)."""
        return np.column_stack([b.inplace_predict(features) for b in self.boosters]).astype(np.float64)


@dataclass(frozen=True)
class _Ridge:
    """y ~ intercept + x @ weights, x = [source predictions, standardised arch features]."""

    weights: np.ndarray
    intercept: float

    @staticmethod
    def fit(x: np.ndarray, y: np.ndarray, penalties: np.ndarray) -> _Ridge:
        x_mean, y_mean = x.mean(0), y.mean()
        xc = x - x_mean
        weights = np.linalg.solve(xc.T @ xc + np.diag(penalties), xc.T @ (y - y_mean))
        return _Ridge(weights, float(y_mean - x_mean @ weights))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights + self.intercept

    def to_json(self) -> dict:
        return {"weights": self.weights.tolist(), "intercept": self.intercept}

    @staticmethod
    def from_json(data: dict, size: int) -> _Ridge:
        weights = np.asarray(data["weights"], dtype=np.float64)
        if weights.shape != (size,):
            raise ValueError(f"ridge weights of shape {weights.shape}, expected ({size},)")
        return _Ridge(weights, float(data["intercept"]))


class FewShotPredictor:
    """Latency (ms) of NAS-Bench-201 architectures on one target device."""

    def __init__(self, sources: SourceModels, feature_mean: np.ndarray, feature_scale: np.ndarray,
                 fit: _Ridge, bootstraps: list[_Ridge]):
        self.sources = sources
        self._feature_mean, self._feature_scale = feature_mean, feature_scale
        self._fit, self._bootstraps = fit, bootstraps

    def _inputs(self, features: np.ndarray) -> np.ndarray:
        correction = (features[:, CORRECTION_FEATURES] - self._feature_mean) / self._feature_scale
        return np.column_stack([self.sources.predict_log(features), correction])

    def predict_log_with_spread(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted log-ms and its standard deviation over the bootstrap refits."""
        x = self._inputs(arch_features(archs))
        spread = np.std([b(x) for b in self._bootstraps], axis=0) if self._bootstraps else np.zeros(len(x))
        return self._fit(x), spread

    def predict(self, archs: Sequence[str]) -> np.ndarray:
        """Predicted latency in ms of each NAS-Bench-201 string."""
        return np.exp(self.predict_log_with_spread(archs)[0])

    def predict_with_uncertainty(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Latency in ms and a relative uncertainty (std of log-latency over bootstrap refits; 0.1 ~ 10 %)."""
        log_ms, spread = self.predict_log_with_spread(archs)
        return np.exp(log_ms), spread

    def to_json(self) -> dict:
        """Everything but the source boosters (saved by the caller, one per `sources.devices`)."""
        return {"feature_names": list(FEATURE_NAMES),
                "correction_features": [FEATURE_NAMES[i] for i in CORRECTION_FEATURES],
                "feature_mean": self._feature_mean.tolist(), "feature_scale": self._feature_scale.tolist(),
                "fit": self._fit.to_json(), "bootstraps": [b.to_json() for b in self._bootstraps]}

    @staticmethod
    def from_json(data: dict, sources: SourceModels) -> FewShotPredictor:
        if (data["feature_names"] != list(FEATURE_NAMES)
                or data["correction_features"] != [FEATURE_NAMES[i] for i in CORRECTION_FEATURES]):
            raise ValueError("fitted on other architecture features than this NACOS computes")
        size = len(sources.devices) + len(CORRECTION_FEATURES)
        moments = [np.asarray(data[k], dtype=np.float64) for k in ("feature_mean", "feature_scale")]
        if any(m.shape != (len(CORRECTION_FEATURES),) for m in moments):
            raise ValueError("feature moments of the wrong length")
        return FewShotPredictor(sources, *moments, _Ridge.from_json(data["fit"], size),
                                [_Ridge.from_json(b, size) for b in data["bootstraps"]])


def fit_fewshot(sources: SourceModels, archs: Sequence[str], latency_ms: np.ndarray, seed: int = 0,
                source_alpha: float = SOURCE_ALPHA, arch_alpha: float = ARCH_ALPHA,
                bootstraps: int = BOOTSTRAPS) -> FewShotPredictor:
    """A predictor for the target device from its measured `latency_ms` of `archs` (a few, e.g. 10)."""
    latency_ms = np.asarray(latency_ms, dtype=np.float64)
    if len(archs) != len(latency_ms) or len(archs) < 2:
        raise NacosError(f"need 2 or more measured target samples, each with a latency (got {len(archs)} "
                         f"architectures, {len(latency_ms)} latencies)")
    if not np.all(np.isfinite(latency_ms) & (latency_ms > 0)):
        raise NacosError("target latencies must be positive numbers of milliseconds")
    features = arch_features(archs)
    correction = features[:, CORRECTION_FEATURES]
    # Standardise over the whole space's distribution, not over the few samples (which may all
    # share a count): these are the NAS-Bench-201 uniform-space moments of each feature.
    mean, scale = _space_moments()
    x = np.column_stack([sources.predict_log(features), (correction - mean) / scale])
    y = np.log(latency_ms)
    penalties = np.r_[np.full(len(sources.devices), source_alpha), np.full(len(CORRECTION_FEATURES), arch_alpha)]
    fit = _Ridge.fit(x, y, penalties)
    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, len(y), len(y)) for _ in range(bootstraps)]
    refits = [_Ridge.fit(x[r], y[r], penalties) for r in resamples]
    return FewShotPredictor(sources, mean, scale, fit, refits)


_MOMENTS: tuple[np.ndarray, np.ndarray] | None = None


def _space_moments() -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the correction features over all 15,625 NAS-Bench-201 cells (no latencies)."""
    global _MOMENTS
    if _MOMENTS is None:
        import itertools

        from ..spaces.nb201 import OPS, arch_string

        every_arch = [arch_string(ops) for ops in itertools.product(OPS, repeat=6)]
        values = arch_features(every_arch)[:, CORRECTION_FEATURES]
        _MOMENTS = values.mean(0), values.std(0)
    return _MOMENTS


def evaluate(predicted_ms: np.ndarray, measured_ms: np.ndarray) -> dict:
    """Spearman and Kendall rank correlations and mean absolute percentage error."""
    from scipy.stats import kendalltau, spearmanr

    predicted_ms, measured_ms = np.asarray(predicted_ms, float), np.asarray(measured_ms, float)
    return {"spearman": float(spearmanr(predicted_ms, measured_ms).statistic),
            "kendall": float(kendalltau(predicted_ms, measured_ms).statistic),
            "mape": float(np.mean(np.abs(predicted_ms - measured_ms) / measured_ms))}


def draw_samples(n_archs: int, samples: int, seed: int) -> np.ndarray:
    """Row indices of the target's measured samples: `samples` distinct rows, chosen by `seed`."""
    if not 2 <= samples < n_archs:
        raise NacosError(f"--samples must be between 2 and {n_archs - 1} (the table has {n_archs} "
                         f"connected architectures; got {samples})")
    return np.sort(np.random.default_rng(seed).choice(n_archs, samples, replace=False))


def flops_baseline(table: LatencyTable, target: str, rows: np.ndarray | None = None) -> dict:
    """How well FLOPs alone rank the target's latencies (rows: which architectures; default all)."""
    rows = np.arange(len(table.archs)) if rows is None else rows
    archs = [table.archs[i] for i in rows]
    scores = evaluate(flops(archs), table.column(target)[rows])
    return {"spearman": scores["spearman"], "kendall": scores["kendall"]}


def run_fewshot(table: LatencyTable, target: str, source_devices: Sequence[str], samples: int = 10,
                seed: int = 0, sources: SourceModels | None = None) -> dict:
    """The few-shot protocol: fit on `samples` seeded target measurements, score on all other archs.

    `sources` may be passed in to reuse source models across seeds (they do not depend on it).
    """
    table.check_devices([target, *source_devices])
    if target in source_devices:
        raise NacosError(f"the target device {target} cannot also be a source device")
    picked = draw_samples(len(table.archs), samples, seed)
    held_out = np.setdiff1d(np.arange(len(table.archs)), picked)
    if sources is None:
        sources = SourceModels(table, source_devices)
    elif list(sources.devices) != list(source_devices):
        raise NacosError("the given source models were trained on other devices")
    measured = table.column(target)
    predictor = fit_fewshot(sources, [table.archs[i] for i in picked], measured[picked], seed=seed)
    held_out_archs = [table.archs[i] for i in held_out]
    predicted, spread = predictor.predict_with_uncertainty(held_out_archs)
    return {"target": target, "sources": list(source_devices), "samples": samples, "seed": seed,
            "archs": len(table.archs), "dropped_disconnected": table.dropped_disconnected,
            "evaluated": len(held_out), **evaluate(predicted, measured[held_out]),
            "mean_log_spread": float(spread.mean()),
            "flops_baseline": flops_baseline(table, target, held_out)}
