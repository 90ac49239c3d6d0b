"""A tune's run folder: the imported network and its reference, so export needs no source model.

    runs/NAME/
      network.json        Relax module (weights inside), tvm.ir.save_json
      model.json          name, framework, inputs, outputs, target and record store root of the tune
      reference/          input_K.npy / output_K.npy: sample inputs and the source framework's outputs
      tune_plan.json      what the tune owes (see tuner.py)
      tune_db/            the tune's own MetaSchedule database while it runs (see tune_database.py)
      result.json         tasks, trials, measured latencies and error
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import NacosError
from .network import TensorSpec


@dataclass
class SavedNetwork:
    name: str
    framework: str
    mod: object
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    ref_inputs: list[np.ndarray]
    ref_outputs: list[np.ndarray]


def write_json(path: Path, data) -> None:
    """Write through a temporary file, so a killed process never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def save_arrays(folder: Path, prefix: str, arrays: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, arr in enumerate(arrays):
        np.save(folder / f"{prefix}_{k}.npy", arr)


def load_arrays(folder: Path, prefix: str, count: int) -> list[np.ndarray]:
    return [np.load(folder / f"{prefix}_{k}.npy") for k in range(count)]


def save_network(run_dir: Path, saved: SavedNetwork, target: str, schedules: Path | None = None) -> None:
    """Write the network, its reference and `schedules`, the store root it is tuned with (None:
    the default one), which export and a rerun of the folder then use unless told otherwise."""
    import tvm

    run_dir.mkdir(parents=True, exist_ok=True)
    save_arrays(run_dir / "reference", "input", saved.ref_inputs)
    save_arrays(run_dir / "reference", "output", saved.ref_outputs)
    tmp = run_dir / "network.json.tmp"
    tmp.write_text(tvm.ir.save_json(saved.mod))
    tmp.replace(run_dir / "network.json")
    write_json(run_dir / "model.json", {
        "name": saved.name, "framework": saved.framework, "target": target,
        "schedules": None if schedules is None else str(Path(schedules).resolve()),
        "inputs": [s.to_json() for s in saved.inputs], "outputs": [s.to_json() for s in saved.outputs]})


def tuned_schedules(run_dir: Path) -> Path | None:
    """The record store root the run was tuned with; None for the default store (or no run)."""
    try:
        root = json.loads((Path(run_dir) / "model.json").read_text()).get("schedules")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(root) if isinstance(root, str) else None


def load_network(run_dir: Path) -> SavedNetwork:
    import tvm

    meta_path = run_dir / "model.json"
    if not meta_path.exists() or not (run_dir / "network.json").exists():
        raise NacosError(f"'{run_dir}' is not a NACOS run folder (no model.json / network.json); "
                         f"make one with `nacos tune MODEL --out {run_dir}`")
    meta = json.loads(meta_path.read_text())
    inputs = [TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in meta["inputs"]]
    outputs = [TensorSpec(s["name"], tuple(s["shape"]), s["dtype"]) for s in meta["outputs"]]
    mod = tvm.ir.load_json((run_dir / "network.json").read_text())
    return SavedNetwork(name=meta["name"], framework=meta["framework"], mod=mod, inputs=inputs,
                        outputs=outputs,
                        ref_inputs=load_arrays(run_dir / "reference", "input", len(inputs)),
                        ref_outputs=load_arrays(run_dir / "reference", "output", len(outputs)))
