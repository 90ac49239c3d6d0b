"""Measured latencies of NAS-Bench-201 architectures on several devices, read from one CSV.

The format is the shared data set's (`nb201_index,arch,DEVICE,...`, milliseconds): any such
file works, with any set of device columns, plain or gzip-compressed (`.gz`). Architectures
whose cell output is cut off from its input are dropped on reading: their latency is
meaningless, and ranking them is pointless.

The package ships that data set (`SHIPPED_TABLE`): all 15,625 cells on 13 devices from the HELP
repository (MIT licence, its notice and README beside it), the CSV byte for byte, gzip-compressed
from 4.4 MB to 1.5 MB; it is the default wherever a table is needed, so no path is.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NacosError
from ..spaces.nb201 import is_disconnected

KEY_COLUMNS = ("nb201_index", "arch")
SHIPPED_TABLE = Path(__file__).resolve().parents[1] / "data" / "nb201_latency" / "nb201_latency_ms.csv.gz"
TABLE_VARIABLE = "NACOS_LATENCY_TABLE"


def default_table() -> Path:
    """$NACOS_LATENCY_TABLE when set, else the shipped NAS-Bench-201 table."""
    given = os.environ.get(TABLE_VARIABLE)
    return Path(given) if given else SHIPPED_TABLE


def open_table(path: str | Path):
    """The CSV text of a latency table, decompressed if its name ends in .gz."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(newline="", encoding="utf-8")


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
        with open_table(path) as f:
            rows = list(csv.reader(f))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise NacosError(f"'{path}' is not a readable gzip file ({exc}); give the CSV, or the CSV gzip-compressed") \
            from None
    except OSError as exc:
        raise NacosError(f"cannot read latency table '{path}': {exc.strerror or exc}") from None
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
