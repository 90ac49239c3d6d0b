"""Exported artifacts: a compiled library for a board, its reference data and a manifest.

    artifacts/NAME-BOARD/
      model.so            Relax VM executable, linked for the board (cross-linked for ARM)
      input_K.npy         reference inputs
      output_K.npy        the source framework's outputs for them
      manifest.json       target, tensors, tuned latency, versions, sha256 of model.so

An artifact is written to a temporary folder and renamed into place, so it is whole or absent.
It runs without Python through the C++ runner (CMakeLists.txt); `nacos run` checks it from Python.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import compiler
from .board import ARCHES, Board
from .errors import NacosError
from .rundir import SavedNetwork, save_arrays, write_json

LIBRARY = "model.so"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
ELF_MACHINE_NAMES = {v: k for k, v in ARCHES.items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ElfInfo:
    arch: str  # x86_64 / aarch64 / armv7 / other:N
    bits: int
    hard_float: bool | None  # ARM 32-bit only: EABI hard-float calling convention


def read_elf(path: Path) -> ElfInfo:
    """Machine, class and (for 32-bit ARM) float ABI from an ELF header."""
    head = path.read_bytes()[:64]
    if len(head) < 52 or head[:4] != b"\x7fELF":
        raise NacosError(f"'{path}' is not an ELF shared library")
    bits = {1: 32, 2: 64}.get(head[4], 0)
    endian = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack_from(endian + "H", head, 18)
    (flags,) = struct.unpack_from(endian + "I", head, 36 if bits == 32 else 48)
    arch = ELF_MACHINE_NAMES.get(machine, f"other:{machine}")
    hard_float = bool(flags & 0x400) if arch == "armv7" else None  # EF_ARM_ABI_FLOAT_HARD
    return ElfInfo(arch=arch, bits=bits, hard_float=hard_float)


def check_elf(path: Path, board_arch: str) -> ElfInfo:
    info = read_elf(path)
    if info.arch != board_arch:
        raise NacosError(f"'{path}' is built for {info.arch}, but the artifact's board is {board_arch}")
    expected_bits = 32 if board_arch == "armv7" else 64
    if info.bits != expected_bits:
        raise NacosError(f"'{path}' is a {info.bits}-bit ELF; {board_arch} needs {expected_bits}-bit")
    if board_arch == "armv7" and not info.hard_float:
        raise NacosError(f"'{path}' uses the soft-float ABI; armhf boards need hard-float "
                         f"(set tvm_target.mfloat-abi = \"hard\" in the board file)")
    return info


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("nacos", "apache-tvm", "apache-tvm-ffi", "torch", "numpy", "onnx", "onnxruntime", "onnxslim"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def check_out_dir(out_dir: Path, force: bool) -> None:
    """Refuse an existing artifact folder unless it is to be replaced; callers ask before building."""
    if Path(out_dir).exists() and not force:
        raise NacosError(f"'{out_dir}' exists already; choose another --out or pass --force to replace it")


def export(saved: SavedNetwork, board: Board, executable, out_dir: Path, *,
           tuned_latency_ms: float | None, tasks_total: int, tasks_with_records: int,
           force: bool = False) -> Path:
    """Link the executable for the board and write the artifact folder atomically."""
    from tvm.support import cc

    out_dir = Path(out_dir)
    check_out_dir(out_dir, force)  # again: it may have appeared during the build
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        lib = staging / LIBRARY
        if not board.runs_locally and shutil.which(board.cross_compiler) is None:
            raise NacosError(f"cross compiler '{board.cross_compiler}' for {board.name} is not installed "
                             f"(Debian: apt-get install g++-{board.cross_compiler.rsplit('-g++', 1)[0]})")
        fcompile = None if board.runs_locally else cc.cross_compiler(board.cross_compiler)
        with compiler.native_stderr_filtered():
            executable.export_library(str(lib), fcompile=fcompile)
        elf = check_elf(lib, board.arch)
        save_arrays(staging, "input", saved.ref_inputs)
        save_arrays(staging, "output", saved.ref_outputs)
        write_json(staging / MANIFEST, {
            "format": FORMAT_VERSION,
            "name": saved.name,
            "board": board.describe(),
            "library": {"file": LIBRARY, "sha256": sha256(lib), "elf_machine": elf.arch, "elf_bits": elf.bits,
                        "hard_float": elf.hard_float},
            "entry": "main",
            "inputs": [s.to_json() for s in saved.inputs],
            "outputs": [s.to_json() for s in saved.outputs],
            "reference": {"inputs": [f"input_{k}.npy" for k in range(len(saved.inputs))],
                          "outputs": [f"output_{k}.npy" for k in range(len(saved.outputs))],
                          "framework": saved.framework, "tolerance": compiler.DEFAULT_TOLERANCE},
            "tuning": {"tasks": tasks_total, "tasks_with_records": tasks_with_records,
                       "latency_ms": tuned_latency_ms},
            "versions": _versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


@dataclass
class Artifact:
    path: Path
    manifest: dict

    @property
    def library(self) -> Path:
        return self.path / self.manifest["library"]["file"]

    @property
    def arch(self) -> str:
        return self.manifest["board"]["arch"]


def open_artifact(path: Path) -> Artifact:
    """Read a manifest and check the library it names is the one that was exported."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise NacosError(f"'{path}' is not a NACOS artifact (no {MANIFEST}); make one with `nacos export`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise NacosError(f"'{manifest_path}' is not valid JSON ({exc}); export the artifact again") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise NacosError(f"'{path}' has artifact format {manifest.get('format')}; this NACOS reads {FORMAT_VERSION}")
    art = Artifact(path, manifest)
    if not art.library.exists():
        raise NacosError(f"'{art.library}' is missing; export the artifact again")
    if sha256(art.library) != manifest["library"]["sha256"]:
        raise NacosError(f"'{art.library}' does not match the sha256 in its manifest; export the artifact again")
    check_elf(art.library, art.arch)
    return art


def verify_and_time(art: Artifact, repeat: int = 50, tolerance: float | None = None) -> dict:
    """Load the library into the Relax VM, compare with the reference outputs and time it."""
    import tvm

    ref = art.manifest["reference"]
    inputs, expected = load_reference(art)
    with compiler.native_stderr_filtered():
        vm = compiler.load_vm(tvm.runtime.load_module(str(art.library)))
    outputs = _run_checked(art, vm, inputs)
    check = compiler.compare(outputs, expected, tolerance or ref["tolerance"])
    timing = compiler.time_ms(vm, inputs, repeat=repeat)
    return {"max_abs_error": check.max_abs_error, "relative_error": check.relative_error,
            "tolerance": check.tolerance, "ok": check.ok, **timing,
            "tuned_latency_ms": art.manifest["tuning"]["latency_ms"]}


def load_reference(art: Artifact) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The reference inputs and outputs, each checked against the tensor the manifest states.

    A manifest that lies about a shape is refused here, before the library is run on it.
    """
    ref = art.manifest["reference"]
    loaded = []
    for kind, specs, files in (("input", art.manifest["inputs"], ref["inputs"]),
                               ("output", art.manifest["outputs"], ref["outputs"])):
        if len(specs) != len(files):
            raise NacosError(f"'{art.path / MANIFEST}' states {len(specs)} {kind}s but names {len(files)} reference "
                             f"{kind} files; export the artifact again")
        arrays = []
        for k, (spec, name) in enumerate(zip(specs, files)):
            file = art.path / name
            try:
                array = np.load(file, allow_pickle=False)
            except FileNotFoundError:
                raise NacosError(f"'{file}' is missing; export the artifact again") from None
            except (ValueError, OSError, EOFError) as exc:
                raise NacosError(f"'{file}' is not a readable .npy file ({exc}); export the artifact again") from None
            stated = _stated(spec)
            if (list(array.shape), str(array.dtype)) != stated:
                raise NacosError(f"'{file}' holds {list(array.shape)} {array.dtype} but the manifest states {kind} {k} "
                                 f"'{spec.get('name')}' as {stated[0]} {stated[1]}; the manifest does not describe "
                                 f"this artifact: export it again")
            arrays.append(array)
        loaded.append(arrays)
    return loaded[0], loaded[1]


def _stated(spec) -> tuple[list[int], str]:
    """(shape, dtype) of a manifest tensor entry."""
    shape, dtype = (spec.get("shape"), spec.get("dtype")) if isinstance(spec, dict) else (None, None)
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape) and isinstance(dtype, str)):
        raise NacosError(f"manifest tensor entry {spec!r} needs a static 'shape' (list of integers) and a 'dtype'; "
                         f"export the artifact again")
    return shape, dtype


# The Relax VM checks every parameter on entry; its message names the parameter and its real type.
_PARAM_CHECK = re.compile(r"loc=param\[(\d+)\], param=[^,]*, annotation=(R\.Tensor\(.*?\))\)")


def _run_checked(art: Artifact, vm, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run the entry once on the manifest's inputs; a library that takes other tensors is refused.

    The VM executable keeps no parameter shapes to read, but its entry function checks each
    argument's rank, dtype and shape against the compiled signature, so the first run is the check.
    """
    arity = vm._get_function_arity("main")  # the function compiler.run calls
    if arity != len(inputs):
        raise NacosError(f"'{art.library}' takes {arity} inputs but its manifest states {len(inputs)}; "
                         f"the manifest does not describe this library: export the artifact again")
    try:
        return compiler.run(vm, inputs)
    except Exception as exc:  # the VM's check raises RuntimeError / ValueError / TypeError
        text = " ".join(str(exc).split())
        found = _PARAM_CHECK.search(text)
        if found is None:
            raise NacosError(f"running '{art.library}' on the manifest's inputs failed: {text[:300]}; "
                             f"export the artifact again") from None
        k = int(found.group(1))
        spec = art.manifest["inputs"][k] if k < len(art.manifest["inputs"]) else {}
        raise NacosError(f"'{art.library}' takes {found.group(2)} as input {k}, not the {spec.get('shape')} "
                         f"{spec.get('dtype')} its manifest states; the manifest does not describe this library: "
                         f"export the artifact again") from None


def describe_foreign(art: Artifact) -> dict:
    """What can be checked here of an artifact for another architecture: its ELF header."""
    load_reference(art)
    info = read_elf(art.library)
    return {"elf_machine": info.arch, "elf_bits": info.bits, "hard_float": info.hard_float,
            "ok": True, "note": f"{art.arch} library: ELF checked; run it on the board (nacos-run) to time it"}
