"""The measured-latency data set of a board: one JSON line per architecture, tuned then timed.

`nacos costmodel collect` appends a line when an architecture has been tuned (its new tasks, on
top of the records the store already had), built with every record, checked against PyTorch and
timed end to end. A line holds what a cost model needs as label and as schedule features: the
measured latency, each task's key, weight and best measured time, and what the tuning spent.
Appends are whole lines, flushed and synced; a torn last line of a killed run is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import NacosError


def read_samples(path: Path) -> list[dict]:
    """Every complete line of a data set; a NacosError if the file is missing or not JSON lines."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise NacosError(f"cannot read latency data set '{path}': {exc.strerror}") from None
    lines = text.split("\n")
    torn = lines.pop() if not text.endswith("\n") else ""
    samples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except ValueError:
            raise NacosError(f"'{path}' line {number} is not JSON; a latency data set has one JSON object "
                             f"per line (written by nacos costmodel collect)") from None
        for field in ("space", "genotype", "target", "latency_ms", "tasks"):
            if field not in sample:
                raise NacosError(f"'{path}' line {number} lacks '{field}'; not a latency data set")
        samples.append(sample)
    del torn  # half a line from a killed writer: not a sample
    return samples


def append_sample(path: Path, sample: dict) -> None:
    """Add one line, durably: a crash leaves either the whole line or a torn tail that reads skip."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:  # cut the torn tail of a killed writer before appending
            data = path.read_bytes()
            path.write_bytes(data[:data.rfind(b"\n") + 1])
    with path.open("a") as f:
        f.write(json.dumps(sample) + "\n")
        f.flush()
        os.fsync(f.fileno())


def rewrite_samples(path: Path, samples: list[dict]) -> None:
    """Replace the data set at once (temporary file, fsync, rename): never half old, half new."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write("".join(json.dumps(s) + "\n" for s in samples))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
