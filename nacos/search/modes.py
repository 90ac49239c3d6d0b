"""The search modes by name: `create_search(config, out)` gives the one `config.mode` names."""

from __future__ import annotations

from pathlib import Path

from .config import SearchConfig
from .loop import OneStageSearch, Search
from .two_stage import TwoStageSearch

SEARCHES = {OneStageSearch.mode: OneStageSearch, TwoStageSearch.mode: TwoStageSearch}


def create_search(config: SearchConfig, out: Path, **kwargs) -> Search:
    """The search of `config.mode`; keyword arguments as `Search` takes them (a strategy,
    latency or accuracy estimator, training, measurement, or a one-stage measurement policy)."""
    config.check()  # an unknown mode is one line naming the modes
    return SEARCHES[config.mode](config, out, **kwargs)
