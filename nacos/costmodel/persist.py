"""Fitted predictors saved beside a board's records: an atomically replaced pickle, plus a JSON
summary a person can read without unpickling anything."""

from __future__ import annotations

import json
import pickle
from pathlib import Path


def save_model(model, folder: Path, file_name: str, summary: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pickle.dumps(model))
    tmp.replace(path)  # a reader sees the old model or the new one, never half of one
    path.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return path


def load_model(folder: Path, file_name: str):
    """The saved model, or None when there is none."""
    path = folder / file_name
    return pickle.loads(path.read_bytes()) if path.exists() else None
