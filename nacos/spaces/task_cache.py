"""A genotype's tuning tasks without lowering its whole network: per part, cached on disk.

Lowering a network (torch.export, decompositions, Relax passes) costs 4-7 s here, far too much
for screening children or for a latency prediction. A network whose module is a sequence of
parts (stem, blocks, head: `PooledClassifier`) has as tasks the union of its parts' tasks, as
operator fusion stops at each part's first convolution (checked against whole-network lowering
in the tests). So each distinct part, identified by its structure and input shape, is lowered
once and its tasks (workload key, weight, TIR) are kept in an SQLite file per board. Children
share most parts with their parents, and the cache outlives the process. Networks of another
shape are cached whole, by the same signature.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class PartTask:
    """A task of a genotype as the cache holds it: enough to look it up and to predict it."""

    key: str
    name: str
    weight: int
    prim_func_json: str = field(repr=False)

    @property
    def prim_func_mod(self):
        import tvm

        return tvm.ir.load_json(self.prim_func_json)


def default_cache_dir() -> Path:
    return Path(os.environ.get("NACOS_CACHE") or Path.home() / ".cache" / "nacos")


def _simple(value) -> bool:
    return isinstance(value, (str, int, float, bool, type(None))) or (
        isinstance(value, tuple) and all(_simple(v) for v in value))


def part_signature(module, input_shape: Sequence[int]) -> str:
    """Structure of a module (types, their plain attributes, parameter shapes) and its input shape."""
    parts = [repr(tuple(input_shape))]
    for name, sub in module.named_modules():
        attrs = {k: v for k, v in vars(sub).items() if not k.startswith("_") and k != "training" and _simple(v)}
        parts.append(f"{name}:{type(sub).__module__}.{type(sub).__qualname__}:{sorted(attrs.items())!r}")
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        parts.append(f"{name}={tuple(tensor.shape)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def split_parts(model, input_shape: Sequence[int]) -> list[tuple[object, tuple[int, ...]]]:
    """(part, its input shape) in order; the whole model where it is not a pooled sequence."""
    import torch
    from torch import nn

    from .mbconv import PooledClassifier

    if not isinstance(model, PooledClassifier) or not isinstance(model.features, nn.Sequential):
        return [(model, tuple(input_shape))]
    parts, x = [], torch.zeros(tuple(input_shape))
    with torch.no_grad():
        for child in model.features:
            parts.append((child, tuple(x.shape)))
            x = child(x)
    parts.append((nn.Sequential(model.pool, nn.Flatten(1), model.classifier), tuple(x.shape)))
    return parts


class TaskCache:
    """Tasks of genotypes for one board, by part, in `<cache>/tasks-<board>-<target hash>.sqlite`."""

    def __init__(self, board, cache_dir: Path | None = None):
        import torch
        import tvm

        self.board = board
        target = json.dumps(board.tvm_target, sort_keys=True)
        versions = f"{SCHEMA_VERSION}|tvm {tvm.__version__}|torch {torch.__version__}|{target}"
        digest = hashlib.sha256(versions.encode()).hexdigest()[:12]
        folder = Path(cache_dir) if cache_dir else default_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"tasks-{board.name}-{digest}.sqlite"
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS part (signature TEXT PRIMARY KEY, tasks TEXT NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS task (key TEXT PRIMARY KEY, name TEXT NOT NULL, "
                            "prim_func TEXT NOT NULL)")
        self.lowered = 0  # parts lowered by this process (the rest came from the cache)
        self._memory: dict[str, list[PartTask]] = {}

    def close(self) -> None:
        self.db.close()

    def tasks(self, space, genotype) -> list[PartTask]:
        """The genotype's tasks, heaviest first, weights summed over its parts."""
        model = space.build(genotype, space.input_shape)
        totals: dict[str, PartTask] = {}
        for part, shape in split_parts(model, space.input_shape):
            for task in self._part_tasks(part, shape):
                seen = totals.get(task.key)
                totals[task.key] = task if seen is None else PartTask(
                    task.key, task.name, seen.weight + task.weight, task.prim_func_json)
        return sorted(totals.values(), key=lambda t: (-t.weight, t.name))

    def _part_tasks(self, part, shape) -> list[PartTask]:
        signature = part_signature(part, shape)
        if signature in self._memory:
            return self._memory[signature]
        row = self.db.execute("SELECT tasks FROM part WHERE signature = ?", (signature,)).fetchone()
        if row is not None:
            entries = json.loads(row[0])
            found = {k: (n, p) for k, n, p in self.db.execute(
                f"SELECT key, name, prim_func FROM task WHERE key IN ({','.join('?' * len(entries))})",
                [key for key, _ in entries])} if entries else {}
            if len(found) == len({key for key, _ in entries}):
                tasks = [PartTask(key, found[key][0], weight, found[key][1]) for key, weight in entries]
                self._memory[signature] = tasks
                return tasks
        tasks = self._lower(part, shape)
        with self.db:  # one transaction: a part is never stored without its tasks
            self.db.executemany("INSERT OR IGNORE INTO task VALUES (?, ?, ?)",
                                [(t.key, t.name, t.prim_func_json) for t in tasks])
            self.db.execute("INSERT OR REPLACE INTO part VALUES (?, ?)",
                            (signature, json.dumps([[t.key, t.weight] for t in tasks])))
        self._memory[signature] = tasks
        return tasks

    def _lower(self, part, shape) -> list[PartTask]:
        import tvm

        from ..network import from_torch
        from ..tasks import extract_tasks

        self.lowered += 1
        network = from_torch(part, [shape], name="part")
        return [PartTask(t.key, t.name, t.weight, tvm.ir.save_json(t.prim_func_mod))
                for t in extract_tasks(network.mod, self.board.target(), prepack=self.board.weight_prepack)]
