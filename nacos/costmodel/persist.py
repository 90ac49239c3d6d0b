"""Fitted predictors saved beside a board's records, in formats that cannot run code on load.

A model is a folder: every XGBoost booster in XGBoost's own UBJSON model format
(`Booster.save_raw("ubj")`, what `save_model("x.ubj")` writes) and one `model.json` for the
rest (feature names, calibration constants, ridge weights, seeds, versions, a `format`
number), indented so a person can read it. Nothing here unpickles: an old NACOS saved models
with pickle, and a record folder handed over from someone else could then run their code on
load; such a file, or anything else that is not this format, is refused with one line.

Each file is written to a temporary name and renamed, boosters first and `model.json` last;
`model.json` holds each booster's SHA-256, so a reader that meets a save half done (or a
replaced file) refuses it instead of mixing two models. Floats survive exactly: UBJSON keeps
XGBoost's float32s as bits, and JSON numbers are Python's shortest round-trip form.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import NacosError

FORMAT = 1
META_FILE = "model.json"
PICKLE_MAGIC = b"\x80"  # pickle protocols 2 and later start with PROTO
NOT_LOADED = "it was not loaded (unpickling can run any code)"
_BOOSTER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a shared store's model from its other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # a reader sees the old file or the new one, never half of one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _versions() -> dict:
    import numpy
    import xgboost

    from .. import __version__

    return {"nacos": __version__, "xgboost": xgboost.__version__, "numpy": numpy.__version__}


def save_model(folder: Path, kind: str, meta: dict, boosters: dict, remove: tuple[str, ...] = ()) -> Path:
    """Write `folder/kind/`: `NAME.ubj` per booster of `boosters` (name -> xgboost.Booster) and
    `model.json` = `meta` plus the format, versions and booster checksums. `remove`: files of
    `folder` the new model replaces (an old pickle and its summary), deleted after the save."""
    path = folder / kind
    path.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, booster in boosters.items():
        if not _BOOSTER_NAME.fullmatch(name):
            raise ValueError(f"booster name {name!r} is not a plain file name")
        data = bytes(booster.save_raw(raw_format="ubj"))
        _write_atomic(path / f"{name}.ubj", data)
        entries[name] = {"file": f"{name}.ubj", "sha256": hashlib.sha256(data).hexdigest()}
    document = {"format": FORMAT, "kind": kind, "saved_by": _versions(), **meta, "boosters": entries}
    _write_atomic(path / META_FILE, (json.dumps(document, indent=1) + "\n").encode())
    keep = {e["file"] for e in entries.values()}
    for stale in path.glob("*.ubj"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)
    for name in remove:
        (folder / name).unlink(missing_ok=True)
    return path


def _refuse(path: Path, what: str, refit: str) -> NacosError:
    return NacosError(f"'{path}' {what}; refit the model with `{refit}`")


def _read(path: Path, refit: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror})", refit) from None


def layer_with(folders, kind: str, legacy: tuple[str, ...] = ()) -> Path:
    """The first record store layer (a folder, or the layers with the user's first) that holds
    `kind` or a legacy file in its place; the first layer when none does."""
    from ..records import layers_of

    layers = layers_of(folders)
    for folder in layers:
        if any((folder / name).exists() or (folder / name).is_symlink() for name in (kind, *legacy)):
            return folder
    return layers[0]


def load_model(folder: Path, kind: str, refit: str, legacy: tuple[str, ...] = ()) -> tuple[dict, dict] | None:
    """(model.json's content, name -> xgboost.Booster) of `folder/kind/`, None when there is
    none. Anything else found there, or an old pickled model in `legacy`, is a NacosError
    saying what it was and to refit with the `refit` command; nothing is ever unpickled."""
    path = folder / kind
    if not path.exists() and not path.is_symlink():
        old = [folder / name for name in legacy if (folder / name).exists()]
        if old:
            raise _refuse(old[0], f"is a model saved by an older NACOS with pickle; {NOT_LOADED}", refit)
        return None
    if not path.is_dir():
        if path.is_file() and _read(path, refit).startswith(PICKLE_MAGIC):
            raise _refuse(path, f"is a pickle, not a NACOS model folder; {NOT_LOADED}", refit)
        raise _refuse(path, f"is a file, not a NACOS model folder ({META_FILE} and XGBoost .ubj files)", refit)
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise _refuse(path, f"has no {META_FILE}", refit)
    data = _read(meta_path, refit)
    if data.startswith(PICKLE_MAGIC):
        raise _refuse(meta_path, f"is a pickle, not a NACOS model file; {NOT_LOADED}", refit)
    try:
        meta = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise _refuse(meta_path, "is not JSON, so not a NACOS model file", refit) from None
    if not isinstance(meta, dict):
        raise _refuse(meta_path, "is not a NACOS model file (not a JSON object)", refit)
    if meta.get("kind") != kind or meta.get("format") != FORMAT:
        found = f"kind {meta.get('kind')!r}, format {meta.get('format')!r}"
        raise _refuse(meta_path, f"holds {found}; this NACOS reads kind {kind!r}, format {FORMAT}", refit)
    entries = meta.get("boosters")
    if not isinstance(entries, dict):
        raise _refuse(meta_path, "lists no boosters", refit)
    return meta, {name: _load_booster(path, name, entry, refit) for name, entry in entries.items()}


def _load_booster(path: Path, name: str, entry, refit: str):
    import xgboost

    if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)
            and _BOOSTER_NAME.fullmatch(entry["file"].removesuffix(".ubj")) and entry["file"].endswith(".ubj")):
        raise _refuse(path / META_FILE, f"has a malformed entry for booster {name!r}", refit)
    file = path / entry["file"]
    data = _read(file, refit)
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        what = "is a pickle" if data.startswith(PICKLE_MAGIC) else "has changed"
        raise _refuse(file, f"{what}: not the file {META_FILE} was saved with (another save under way, or a replaced "
                            f"file); it was not loaded", refit)
    try:
        return xgboost.Booster(model_file=bytearray(data))
    except xgboost.core.XGBoostError as exc:  # not exported at the top level
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise _refuse(file, f"is not an XGBoost model this XGBoost {xgboost.__version__} reads ({first})",
                      refit) from None


def malformed(folder: Path, kind: str, exc: Exception, refit: str) -> NacosError:
    """The error for a model.json of the right format whose content does not fit the model."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return _refuse(folder / kind / META_FILE, f"is malformed ({type(exc).__name__}: {text})", refit)
