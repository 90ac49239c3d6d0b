"""NACOS: hardware-aware neural architecture and compiler optimization co-search on Apache TVM."""

import os

# Idle OpenMP threads of torch and xgboost spin by default. On 2 cores shared with TVM's builder
# and runner (or any other process) that turns a 20 s training into minutes; it must be set
# before either library loads, so it is set when nacos is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

__version__ = "0.1.0"
