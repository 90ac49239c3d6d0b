"""Boards: declarative TOML files in targets/ that say how to compile for, and measure on, a device.

A board file names the TVM target dict, the thread count, the cross compiler that links its
libraries and whether this machine can run its code. The shipped boards are the repository's
targets/ (inside the package as nacos/data/targets, homes.py); users add a board in a folder named
by $NACOS_TARGETS. A file with a bad field is refused with a message that names the file and the field.
"""

from __future__ import annotations

import os
import platform
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NacosError
from .homes import SHIPPED_TARGETS as BUILTIN_TARGETS

# ELF e_machine values of the architectures NACOS builds for.
ARCHES = {"x86_64": 62, "aarch64": 183, "armv7": 40}
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64",
             "armv7l": "armv7"}.get(platform.machine().lower(), platform.machine().lower())

_FIELDS = {  # field -> (type, required)
    "name": (str, True),
    "description": (str, True),
    "arch": (str, True),
    "threads": ((int, str), True),
    "cross_compiler": (str, False),
    "tvm_target": (dict, True),
    "weight_prepack": (bool, False),
}


@dataclass(frozen=True)
class Board:
    """A device NACOS compiles for; `tvm_target` is resolved (host CPU, thread count filled in)."""

    name: str
    description: str
    arch: str
    threads: int
    tvm_target: dict[str, Any]
    cross_compiler: str | None = None
    source: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    weight_prepack: bool = False  # build tuned kernels with prepacked weights (weight_prepack.py)

    @property
    def runs_locally(self) -> bool:
        """True when this machine can execute (and so time) code built for the board."""
        return self.arch == HOST_ARCH

    def target(self):
        """The `tvm.target.Target` for this board (imports TVM, hence not at module load)."""
        import tvm

        return tvm.target.Target(self.tvm_target)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "arch": self.arch,
                "threads": self.threads, "runs_locally": self.runs_locally,
                "cross_compiler": self.cross_compiler, "tvm_target": self.tvm_target,
                "weight_prepack": self.weight_prepack, "notes": list(self.notes)}


def host_cpu_flags() -> set[str]:
    """SIMD flags of this machine's CPU from /proc/cpuinfo (empty off Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def host_mcpu() -> tuple[str, str]:
    """LLVM's name for this CPU and the widest x86 vector ISA it has.

    Without an mcpu TVM emits SSE-only code, and "native" is refused, so the host CPU is named
    explicitly; when LLVM does not know it, a generic CPU with the detected ISA stands in.
    """
    flags = host_cpu_flags()
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    from tvm.target.codegen import llvm_get_system_cpu

    cpu = llvm_get_system_cpu()
    if not cpu or cpu == "generic":
        cpu = {"avx512": "skylake-avx512", "avx2": "haswell", "sse": "x86-64"}[isa]
    return cpu, isa


def _fail(path: Path, msg: str) -> NacosError:
    return NacosError(f"{path}: {msg}; fix the board file (see targets/README.md)")


def parse_board(path: Path) -> Board:
    """Read and validate one board file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))  # TOML is UTF-8, whatever the locale
    except OSError as exc:
        raise NacosError(f"cannot read board file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise _fail(path, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}; "
                          f"TOML files are UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML ({exc})") from None
    for key in raw:
        if key not in _FIELDS:
            raise _fail(path, f"unknown field '{key}' (known: {', '.join(_FIELDS)})")
    for key, (typ, required) in _FIELDS.items():
        if key not in raw:
            if required:
                raise _fail(path, f"missing field '{key}'")
            continue
        if not isinstance(raw[key], typ) or isinstance(raw[key], bool) != (typ is bool):
            raise _fail(path, f"field '{key}' has the wrong type ({type(raw[key]).__name__})")
    if raw["name"] != path.stem:  # --target NAME finds the file by its name, the record store by the field
        raise _fail(path, f"field 'name' is '{raw['name']}' but the file is named '{path.stem}'")
    if raw["arch"] not in ARCHES:
        raise _fail(path, f"field 'arch' must be one of {', '.join(ARCHES)} (got '{raw['arch']}')")
    notes: list[str] = []
    threads = raw["threads"]
    if threads == "host":
        threads = os.cpu_count() or 1
    elif not isinstance(threads, int) or threads < 1:
        raise _fail(path, f"field 'threads' must be a positive integer or \"host\" (got {threads!r})")
    tvm_target = dict(raw["tvm_target"])
    if tvm_target.get("kind") != "llvm":
        raise _fail(path, "field 'tvm_target.kind' must be \"llvm\" (CPU boards only)")
    if raw["arch"] != "x86_64" and "mtriple" not in tvm_target:
        raise _fail(path, "field 'tvm_target.mtriple' is required for a non-x86 board")
    if raw["arch"] != HOST_ARCH and not raw.get("cross_compiler"):
        raise _fail(path, "field 'cross_compiler' is required for a board that is not this machine's arch")
    if tvm_target.get("mcpu") == "host":
        cpu, isa = host_mcpu()
        tvm_target["mcpu"] = cpu
        notes.append(f"host CPU {cpu}, widest vector ISA {isa}")
    tvm_target.setdefault("num-cores", threads)
    return Board(name=raw["name"], description=raw["description"], arch=raw["arch"],
                 threads=threads, tvm_target=tvm_target, cross_compiler=raw.get("cross_compiler"),
                 source=path, notes=tuple(notes), weight_prepack=raw.get("weight_prepack", False))


def board_dirs() -> list[Path]:
    extra = os.environ.get("NACOS_TARGETS")
    return [BUILTIN_TARGETS] + ([Path(p) for p in extra.split(os.pathsep) if p] if extra else [])


def list_boards() -> list[Board]:
    """Every board file found, the later folders overriding earlier ones by name."""
    boards: dict[str, Board] = {}
    for folder in board_dirs():
        for path in sorted(folder.glob("*.toml")):
            board = parse_board(path)
            boards[board.name] = board
    return sorted(boards.values(), key=lambda b: b.name)


def load_board(name_or_path: str) -> Board:
    """A board by name (from the target folders) or by the path of a board file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return parse_board(path)
    for folder in reversed(board_dirs()):
        candidate = folder / f"{name_or_path}.toml"
        if candidate.exists():
            return parse_board(candidate)  # which checks that its name is the file's
    known = ", ".join(sorted({p.stem for d in board_dirs() for p in d.glob("*.toml")}))
    raise NacosError(f"unknown target '{name_or_path}'; known targets: {known} (or give a .toml board file)")
