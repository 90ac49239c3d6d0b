"""The learned cost model: latency predictors that replace measurements during the search.

`fewshot` predicts a new device's latency of NAS-Bench-201 architectures from models learned on
other devices plus a handful of the new device's measurements.
"""
