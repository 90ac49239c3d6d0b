"""NACOS: hardware-aware neural architecture and compiler optimization co-search on Apache TVM."""

import os

# Idle OpenMP threads of torch and xgboost spin by default. On 2 cores shared with TVM's builder
# and runner (or any other process) that turns a 20 s training into minutes; it must be set
# before either library loads, so it is set when nacos is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

__version__ = "0.1.0"

# The Python API (api.py), imported on first use so that `import nacos` loads neither TVM nor torch.
# `nacos.search` is the subpackage, callable as api.search (see search/__init__.py).
_API = ("tune", "export", "load_study", "Study")
__all__ = [*_API, "search"]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "search":
        import importlib

        return importlib.import_module(".search", __name__)
    raise AttributeError(f"module 'nacos' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
