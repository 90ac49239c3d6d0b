"""Measured latencies of NAS-Bench-201 architectures on several devices, read from one CSV.

The format is the shared data set's (`nb201_index,arch,DEVICE,...`, milliseconds): any such
file works, with any set of device columns. Architectures whose cell output is cut off from
its input are dropped on reading: their latency is meaningless, and ranking them is pointless.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NacosError
from ..spaces.nb201 import is_disconnected

KEY_COLUMNS = ("nb201_index", "arch")


@dataclass(frozen=True)
class LatencyTable:
    """Connected architectures x devices, latency in ms (all finite and positive)."""

    archs: tuple[str, ...]
    devices: tuple[str, ...]
    latency_ms: np.ndarray  # (len(archs), len(devices))
    dropped_disconnected: int
    source: str = ""

    def column(self, device: str) -> np.ndarray:
        return self.latency_ms[:, self.devices.index(self.check_devices([device])[0])]

    def check_devices(self, devices: Sequence[str]) -> list[str]:
        """The devices, if all are columns of the table; otherwise one NacosError naming them."""
        unknown = [d for d in devices if d not in self.devices]
        if unknown:
            raise NacosError(f"no device column {', '.join(repr(d) for d in unknown)} in {self.source or 'the table'}; "
                             f"devices: {', '.join(self.devices)}")
        return list(devices)

    def subset(self, rows: np.ndarray) -> LatencyTable:
        """The same devices for the architectures at the given row indices."""
        return LatencyTable(tuple(self.archs[i] for i in rows), self.devices, self.latency_ms[rows],
                            self.dropped_disconnected, self.source)


def load_latency_table(path: str | Path) -> LatencyTable:
    """Read and validate a latency CSV; NacosError, naming file and line, on the first problem."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise NacosError(f"cannot read latency table '{path}': {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise NacosError(f"'{path}' is not a readable CSV file: {exc}") from None
    if not rows:
        raise NacosError(f"'{path}' is empty; expected a header nb201_index,arch,DEVICE,...")
    header = [name.strip() for name in rows[0]]
    if tuple(header[:2]) != KEY_COLUMNS or len(header) < 3:
        raise NacosError(f"'{path}' header starts with {','.join(header[:3])!r}; expected "
                         f"nb201_index,arch then one latency column (ms) per device")
    devices = tuple(header[2:])
    if len(set(devices)) != len(devices) or "" in devices:
        raise NacosError(f"'{path}': device columns must have distinct, non-empty names (got {','.join(devices)})")

    archs, latencies, dropped = [], [], 0
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise NacosError(f"'{path}' line {line} has {len(row)} fields; the header has {len(header)}")
        try:
            disconnected = is_disconnected(row[1].strip())
        except NacosError as exc:
            raise NacosError(f"'{path}' line {line}: {exc}") from None
        values = []
        for device, text in zip(devices, row[2:]):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise NacosError(f"'{path}' line {line}: latency of {device} is {text!r}; "
                                 f"expected a positive number of milliseconds")
            values.append(value)
        if disconnected:
            dropped += 1
            continue
        archs.append(row[1].strip())
        latencies.append(values)
    if not archs:
        raise NacosError(f"'{path}' has no architecture with a connected cell")
    return LatencyTable(tuple(archs), devices, np.array(latencies, dtype=np.float64), dropped, str(path))
