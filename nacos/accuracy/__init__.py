"""Accuracy estimators: genotype -> estimate of how well the network classifies, with its cost.

Three families behind one interface (`AccuracyEstimator.estimate(genotype) -> Estimate`):
- `training.ShortTraining`: a few epochs on a data subset with a fixed recipe; validation accuracy.
- `proxies`: zero-cost scores at initialisation (synflow, NASWOT, grad-norm), one minibatch each.
- `surrogate.RankingSurrogate`: XGBoost with a pairwise ranking objective over the genotype
  encoding, fitted on the architectures already trained.

A search ranks candidates with the cheap ones and pays for training only the promising few.
"""

from __future__ import annotations

from .base import AccuracyEstimator, Estimate

__all__ = ["AccuracyEstimator", "Estimate"]
