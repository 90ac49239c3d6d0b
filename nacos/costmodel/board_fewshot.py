"""Latency on a board known only from a few measured NAS-Bench-201 networks: the few-shot model.

A board reached over RPC (a Raspberry Pi) tunes and measures a network in minutes, so tens of
measured networks, as the x86 model has, take hours. Ten measured NAS-Bench-201 networks of the
board (`tools/collect_latency.py --space nb201 --target rpi4 --rpc-tracker ... -n 10`) plus
other devices' measurements of every NAS-Bench-201 cell (the HELP table, `--latency-table`) give
a predictor of any cell on that board (`fewshot.fit_fewshot`: source-device models, ridge on
the board's samples, bootstrap spread). `nacos costmodel fit` saves it beside the board's
records; `nacos costmodel predict --target rpi4 G.json` answers from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NacosError
from .persist import load_model, save_model

FEWSHOT_FILE = "fewshot_nb201.pkl"
SPACE = "nb201"


def default_table() -> Path | None:
    """$NACOS_LATENCY_TABLE, else the shared data set beside the repository, if present."""
    from ..board import REPO_ROOT

    given = os.environ.get("NACOS_LATENCY_TABLE")
    path = Path(given) if given else REPO_ROOT.parent / "shared" / "data" / "nb201-latency" / "nb201_latency_ms.csv"
    return path if path.exists() else None


def sample_arch(sample: dict) -> str:
    """The NAS-Bench-201 cell string of a measured sample of the nb201 space."""
    from ..spaces import Genotype, get_space

    if sample.get("space") != SPACE:
        raise NacosError(f"the few-shot model takes {SPACE} networks; sample {sample.get('key')} is of space "
                         f"'{sample.get('space')}'")
    space = get_space(SPACE)
    return space.arch(space.validate(Genotype.from_json(sample["genotype"])))


@dataclass
class BoardFewShot:
    board: str
    predictor: object  # fewshot.FewShotPredictor
    sources: list[str]
    trained_on: int

    def predict(self, archs: Sequence[str]) -> list[dict]:
        """Per cell string: latency_ms, spread (std of log-latency over refits), low_ms, high_ms."""
        ms, spread = self.predictor.predict_with_uncertainty(list(archs))
        return [{"latency_ms": float(m), "spread": float(s), "low_ms": float(m * math.exp(-s)),
                 "high_ms": float(m * math.exp(s))} for m, s in zip(ms, spread)]

    def save(self, folder: Path) -> Path:
        return save_model(self, folder, FEWSHOT_FILE,
                          {"board": self.board, "trained_on": self.trained_on, "sources": self.sources})

    @staticmethod
    def load(folder: Path) -> BoardFewShot | None:
        return load_model(folder, FEWSHOT_FILE)


def fit_board_fewshot(samples: list[dict], table_path: Path | None, board_name: str,
                      sources: Sequence[str] | None = None, seed: int = 0) -> BoardFewShot:
    """Source models on the table's devices (all, unless `sources`), ridge on the board's samples."""
    from .fewshot import SourceModels, fit_fewshot, load_latency_table

    if table_path is None:
        raise NacosError("the few-shot model needs other devices' NAS-Bench-201 latencies: give --latency-table "
                         "CSV (nb201_index,arch,one column per device) or set NACOS_LATENCY_TABLE")
    archs = [sample_arch(s) for s in samples]
    table = load_latency_table(table_path)
    devices = list(sources) if sources else list(table.devices)
    source_models = SourceModels(table, devices)
    latency = np.array([s["latency_ms"] for s in samples], dtype=np.float64)
    predictor = fit_fewshot(source_models, archs, latency, seed=seed)
    return BoardFewShot(board_name, predictor, devices, len(samples))
