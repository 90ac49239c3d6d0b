"""Latency on a board known only from a few measured NAS-Bench-201 networks: the few-shot model.

A board reached over RPC (a Raspberry Pi) tunes and measures a network in minutes, so tens of
measured networks, as the x86 model has, take hours. Ten measured NAS-Bench-201 networks of the
board (`nacos costmodel collect --space nb201 --target rpi4 --rpc-tracker ... -n 10`) plus
other devices' measurements of every NAS-Bench-201 cell (the HELP table shipped with the
package, or `--latency-table`) give a predictor of any cell on that board
(`fewshot.fit_fewshot`: source-device models, ridge on the board's samples, bootstrap spread).
`nacos costmodel fit` saves it beside the board's records as the folder `fewshot_nb201/`
(`persist`: `source-0.ubj` ... per source device, `model.json` with the devices, the ridge
weights and feature moments); `nacos costmodel predict --target rpi4 G.json` answers from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NacosError
from .latency_table import default_table
from .persist import layer_with, load_model, malformed, save_model

__all__ = ["BoardFewShot", "default_table", "fit_board_fewshot", "sample_arch"]

FEWSHOT_FILE = "fewshot_nb201"  # a folder: persist.save_model
LEGACY_PICKLE = "fewshot_nb201.pkl"  # what NACOS saved before, refused on load
LEGACY_FILES = (LEGACY_PICKLE, "fewshot_nb201.json")  # the pickle and its summary, removed by a save
REFIT = "nacos costmodel fit --target BOARD --data DATASET"
SPACE = "nb201"


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
        """Write `folder/fewshot_nb201/` (replacing an old pickled model there); returns that folder."""
        sources = self.predictor.sources
        boosters = {f"source-{i}": b for i, b in enumerate(sources.boosters)}
        meta = {"board": self.board, "trained_on": self.trained_on, "sources": self.sources,
                "source_boosters": list(boosters), "predictor": self.predictor.to_json()}
        return save_model(folder, FEWSHOT_FILE, meta, boosters, remove=LEGACY_FILES)

    @staticmethod
    def load(folders) -> BoardFewShot | None:
        """The saved model of the first layer that has one, None when there is none (a NacosError
        for anything else there)."""
        from .fewshot import FewShotPredictor, SourceModels

        folder = layer_with(folders, FEWSHOT_FILE, (LEGACY_PICKLE,))
        loaded = load_model(folder, FEWSHOT_FILE, REFIT, legacy=(LEGACY_PICKLE,))
        if loaded is None:
            return None
        meta, boosters = loaded
        try:
            devices = [str(d) for d in meta["sources"]]
            sources = SourceModels.from_boosters(devices, [boosters[name] for name in meta["source_boosters"]])
            predictor = FewShotPredictor.from_json(meta["predictor"], sources)
            return BoardFewShot(str(meta["board"]), predictor, devices, int(meta["trained_on"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise malformed(folder, FEWSHOT_FILE, exc, REFIT) from None


def fit_board_fewshot(samples: list[dict], table_path: Path | None, board_name: str,
                      sources: Sequence[str] | None = None, seed: int = 0) -> BoardFewShot:
    """Source models on the table's devices (all, unless `sources`), ridge on the board's samples.
    `table_path` None: `default_table()` ($NACOS_LATENCY_TABLE, else the shipped table)."""
    from .fewshot import SourceModels, fit_fewshot, load_latency_table

    archs = [sample_arch(s) for s in samples]
    table = load_latency_table(table_path or default_table())
    devices = list(sources) if sources else list(table.devices)
    source_models = SourceModels(table, devices)
    latency = np.array([s["latency_ms"] for s in samples], dtype=np.float64)
    predictor = fit_fewshot(source_models, archs, latency, seed=seed)
    return BoardFewShot(board_name, predictor, devices, len(samples))
