"""The search modes by name: `create_search(config, out)` gives the one `config.mode` names."""

from __future__ import annotations

from pathlib import Path

from .config import SearchConfig
from .loop import OneStageSearch, Search
from .two_stage import TwoStageSearch

SEARCHES = {OneStageSearch.mode: OneStageSearch, TwoStageSearch.mode: TwoStageSearch}


def create_search(config: SearchConfig, out: Path, **kwargs) -> Search:
    """The search of `config.mode`; keyword arguments as `Search` takes them (a space, board or
    strategy object, a latency or accuracy estimator, training, measurement, or a one-stage
    measurement policy)."""
    # an unknown mode is one line naming the modes
    config.check(strategy_given=kwargs.get("strategy") is not None)
    return SEARCHES[config.mode](config, out, **kwargs)
