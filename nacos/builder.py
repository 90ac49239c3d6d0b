"""A MetaSchedule builder whose worker processes live across build batches.

The stock LocalBuilder starts a fresh process pool for every batch, and each worker imports TVM
and `tvm.s_tir.tensor_intrin` (whose package import loads the CUDA intrinsics): most of a tuning
run went into starting workers. Here the pool is made once and recycled only every
`max_uses` builds (the stock builder restarts its pool because long-lived workers leak), the
workers import only the CPU intrinsics the target can use, and they link each candidate's
shared library themselves.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind


def import_cpu_intrinsics(family: str | None = None) -> None:
    """Register the tensor intrinsics of one CPU family ("x86" or "arm_cpu": `intrinsic_family`;
    both when None), and not the CUDA ones, in this process.

    Importing any submodule of `tvm.s_tir.tensor_intrin` runs the package's __init__, which
    builds every CUDA intrinsic (32 s measured under load). A bare package object with the same
    __path__ lets the CPU submodules load on their own: x86 in 0.6 s, ARM in 4.5 s (TVMScript
    parsing), which an x86 tune and each of its build workers need not pay.
    """
    import importlib

    name = bare_intrinsics_package()
    for module in (family,) if family else ("x86", "arm_cpu"):
        importlib.import_module(f"{name}.{module}")


def intrinsic_family(target) -> str:
    """The `tvm.s_tir.tensor_intrin` submodule a target's schedule rules use."""
    return "arm_cpu" if "arm_cpu" in target.keys else "x86"


def bare_intrinsics_package() -> str:
    """Put an empty `tvm.s_tir.tensor_intrin` package in place (unless imported already).

    Enough for a TuneContext that only extracts program features: it imports the package but
    uses no intrinsic, and x86 + ARM alone still cost 2-4 s of TVMScript parsing.
    """
    import sys
    import types

    import tvm.s_tir

    name = "tvm.s_tir.tensor_intrin"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(os.path.dirname(tvm.s_tir.__file__), "tensor_intrin")]
        sys.modules[name] = package
    return name


def _build_and_export(job) -> str:
    """Runs in a worker: compile one scheduled candidate and write it where the runner reads it."""
    mod, target, cross_compiler = job
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    rt_mod = tvm_build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)
    folder = tempfile.mkdtemp(prefix="nacos-build-")
    path = os.path.join(folder, "candidate.so")
    # Linked here, in parallel workers, rather than by the serial runner (the stock builder
    # exports a tar that the runner must link); a board without a compiler needs a .so anyway.
    fcompile = None
    if cross_compiler:
        from tvm.support import cc

        fcompile = cc.cross_compiler(cross_compiler)
    rt_mod.export_library(path, fcompile=fcompile)
    return path


@derived_object
class PersistentBuilder(PyBuilder):
    """Builds candidates in a long-lived pool of worker processes."""

    def __init__(self, max_workers: int | None = None, timeout_sec: float = 30.0,
                 cross_compiler: str | None = None, max_uses: int = 512,
                 on_batch: Callable[[int], None] | None = None, family: str | None = None) -> None:
        """`on_batch(n)` is told of every batch of n candidates built (progress reporting);
        `family`: the intrinsics the workers import (`intrinsic_family`; all CPU ones if None)."""
        super().__init__()
        self.on_batch = on_batch
        self.family = family
        self.max_workers = max_workers or os.cpu_count() or 1
        self.timeout_sec = timeout_sec
        self.cross_compiler = cross_compiler
        self.max_uses = max_uses
        self.pool = self._new_pool()

    def _new_pool(self) -> PopenPoolExecutor:
        return PopenPoolExecutor(max_workers=self.max_workers, timeout=self.timeout_sec,
                                 initializer=import_cpu_intrinsics, initargs=(self.family,),
                                 maximum_process_uses=self.max_uses)

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        results = []
        jobs = [(b.mod, b.target, self.cross_compiler) for b in build_inputs]
        for res in self.pool.map_with_error_catching(_build_and_export, jobs):
            if res.status == StatusKind.COMPLETE:
                results.append(BuilderResult(res.value, None))
            elif res.status == StatusKind.TIMEOUT:
                results.append(BuilderResult(None, f"build timed out after {self.timeout_sec} s"))
            else:
                results.append(BuilderResult(None, f"build failed: {res.value}"))
        if self.on_batch is not None:
            self.on_batch(len(results))
        return results

    def shutdown(self) -> None:
        self.pool.shutdown()
