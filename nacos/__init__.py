"""NACOS: hardware-aware neural architecture and compiler optimization co-search on Apache TVM."""

__version__ = "0.1.0"
