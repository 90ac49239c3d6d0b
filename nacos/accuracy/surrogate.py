"""Accuracy surrogate: XGBoost ranks architectures from their encoding before any training.

Fitted on the architectures a study has already trained (genotype -> short-training accuracy)
with the pairwise ranking objective (as AnalogNAS's evaluator does): a search needs the order of
candidates more than their exact accuracy, and with a few dozen labels, pairs are many more
examples than points. The ranking score is mapped back to an accuracy by a least-squares line
through the training points, so that the estimate reads as an accuracy; its order is the model's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import NacosError
from ..spaces.base import Genotype, Space
from ..spaces.encoding import encode_all
from .base import AccuracyEstimator

MIN_TRAINING_POINTS = 4


class RankingSurrogate(AccuracyEstimator):
    name = "surrogate"
    is_accuracy = True

    def __init__(self, space: Space, seed: int = 0, n_estimators: int = 200, max_depth: int = 3):
        self.space = space
        self.seed = seed
        self.params = dict(n_estimators=n_estimators, max_depth=max_depth, learning_rate=0.05,
                           subsample=0.8, colsample_bytree=0.8, min_child_weight=1.0)
        self.model = None
        self.line = (0.0, 0.0)
        self.trained_on = 0

    def fit(self, genotypes: Sequence[Genotype], accuracies: Sequence[float]) -> RankingSurrogate:
        from xgboost import XGBRanker

        if len(genotypes) != len(accuracies):
            raise ValueError("one accuracy per genotype")
        if len(genotypes) < MIN_TRAINING_POINTS:
            raise NacosError(f"the accuracy surrogate needs at least {MIN_TRAINING_POINTS} trained "
                             f"architectures (got {len(genotypes)})")
        x = encode_all(self.space, genotypes)
        y = np.asarray(accuracies, dtype=np.float64)
        # Integer relevance labels keep XGBoost's ranking objectives happy; 1000 levels keep 0.1%.
        relevance = np.round((y - y.min()) / max(np.ptp(y), 1e-9) * 1000).astype(np.int64)
        self.model = XGBRanker(objective="rank:pairwise", random_state=self.seed, n_jobs=2, **self.params)
        self.model.fit(x, relevance, qid=np.zeros(len(y), dtype=np.int64))
        scores = self.model.predict(x)
        self.line = tuple(np.polyfit(scores, y, 1)) if np.ptp(scores) > 0 else (0.0, float(y.mean()))
        self.trained_on = len(y)
        return self

    def rank_scores(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        if self.model is None:
            raise NacosError("the accuracy surrogate is not fitted yet: train some architectures first")
        return self.model.predict(encode_all(self.space, genotypes))

    def predict(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        slope, intercept = self.line
        return slope * self.rank_scores(genotypes) + intercept

    def _value(self, genotype: Genotype) -> tuple[float, dict]:
        return float(self.predict([genotype])[0]), {"trained_on": self.trained_on}
