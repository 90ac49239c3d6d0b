"""Build a network with its tuning records, check its numbers against the reference, time it."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from .board import Board
from .errors import NacosError
from .records import RecordStore

DEFAULT_TOLERANCE = 1e-4  # max abs error relative to max |reference|
# TVM's C++ runtime logs one line per VM function when an executable is saved or loaded.
_NATIVE_NOISE = re.compile(r"executable\.cc:\d+: Warning: Scope (Saving|Loaded):")


@contextlib.contextmanager
def native_stderr_filtered():
    """Hide the runtime's per-function save/load warnings; pass any other native message on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not _NATIVE_NOISE.search(line):
                    print(line, file=sys.stderr)


def build(mod, board: Board, store: RecordStore | None, database=None):
    """A Relax VM executable; with a store, every task that has a record uses its best schedule
    (`database`: a MetaSchedule database to query instead of the store's, e.g. transfer.database).

    `mod` must be the unfused module: the pipeline fuses it exactly as task extraction does
    (tasks.fusion_passes), and records of a module fused beforehand are silently not found (see
    ../shared/notes/tvm-0.27.md). The pipeline is compile_relax's for CPU targets, with the
    board's weight prepacking (weight_prepack.py) around the records.
    """
    import tvm
    from tvm import relax

    target = board.target()
    if store is None:
        return tvm.compile(mod, target=target)
    with target, store.database if database is None else database, tvm.transform.PassContext(opt_level=3):
        return relax.build(mod, target=target, relax_pipeline=_tuned_pipeline(target, board.weight_prepack))


def tuned_passes(target, prepack: bool) -> list:
    """Fusion as task extraction does it, then the records of the database in scope (and with
    `prepack` the weights' layout rewrite): the module the VM lowering gets."""
    from tvm import relax

    from . import weight_prepack
    from .tasks import fusion_passes

    return (fusion_passes(target, prepack)
            + [relax.transform.MetaScheduleApplyDatabase(enable_warning=False)]  # else a WARNING per untuned one
            + (weight_prepack.after_records() if prepack else []))


def _tuned_pipeline(target, prepack: bool):
    """compile_relax's pipeline for CPU targets: tuned_passes, then the VM lowering."""
    import tvm
    from tvm import relax
    from tvm.relax import pipeline

    try:  # what compile_relax does: targets without registered lists take the generic ones
        lower = list(pipeline.dataflow_lower_passes(target)) + list(pipeline.finalize_passes(target))
    except (ValueError, AttributeError):
        lower = [relax.transform.RewriteDataflowReshape(), relax.transform.ToNonDataflow(),
                 relax.transform.RemovePurityChecking(), relax.transform.CallTIRRewrite(),
                 relax.transform.StaticPlanBlockMemory(), relax.transform.LowerAllocTensor(),
                 relax.transform.KillAfterLastUse(), relax.transform.LowerRuntimeBuiltin(),
                 relax.transform.ComputePrimValue(), relax.transform.VMShapeLower(),
                 relax.transform.AttachGlobalSymbol()]
    return tvm.transform.Sequential(tuned_passes(target, prepack) + lower)


def _flatten(value) -> list[np.ndarray]:
    import tvm

    if isinstance(value, (tvm.runtime.Tensor,)):
        return [value.numpy()]
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not hasattr(value, "numpy"):
        return [a for v in value for a in _flatten(v)]
    return [np.asarray(value.numpy())]


def load_vm(executable_or_module):
    import tvm
    from tvm import relax

    return relax.VirtualMachine(executable_or_module, tvm.cpu())


def run(vm, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import tvm

    return _flatten(vm["main"](*[tvm.runtime.tensor(x) for x in inputs]))


@dataclass
class Check:
    max_abs_error: float
    relative_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.relative_error <= self.tolerance


def compare(outputs: list[np.ndarray], reference: list[np.ndarray], tolerance: float = DEFAULT_TOLERANCE) -> Check:
    if len(outputs) != len(reference):
        raise NacosError(f"the build returns {len(outputs)} outputs but the reference has {len(reference)}")
    err, scale = 0.0, 1e-6
    for out, ref in zip(outputs, reference):
        if out.shape != ref.shape:
            raise NacosError(f"output shape {out.shape} differs from the reference's {ref.shape}")
        err = max(err, float(np.max(np.abs(out.astype(np.float64) - ref))) if out.size else 0.0)
        scale = max(scale, float(np.max(np.abs(ref))) if ref.size else 0.0)
    return Check(max_abs_error=err, relative_error=err / scale, tolerance=tolerance)


def time_ms(vm, inputs: list[np.ndarray], repeat: int = 50, min_repeat_ms: int = 50) -> dict[str, float]:
    """Median, min and max over `repeat` timings of the whole network (TVM's time evaluator)."""
    import tvm

    args = [tvm.runtime.tensor(x) for x in inputs]
    timer = vm.time_evaluator("main", tvm.cpu(), number=1, repeat=repeat, min_repeat_ms=min_repeat_ms)
    res = timer(*args)
    samples = np.asarray(res.results) * 1e3
    return {"median_ms": float(np.median(samples)), "min_ms": float(samples.min()),
            "max_ms": float(samples.max()), "repeat": repeat}
