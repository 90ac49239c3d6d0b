"""Tuning tasks: the fused TIR functions of a network, each with its weight and a stable key.

The fusion pipeline here is the one `ms.relax_integration.compile_relax` runs, so the functions
tuned are the functions the final build looks up. The key is the structural hash of the task's
PrimFunc — the same number TVM's JSON database stores — so the same operator shape in two
networks is one task, tuned once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    weight: int  # how many times the network calls this function
    key: str  # structural hash of the PrimFunc, as TVM's database stores it
    extracted: object  # ms.ExtractedTask

    @property
    def prim_func_mod(self):
        return self.extracted.dispatched[0]


def fusion_passes(target, prepack: bool = False):
    """Library dispatch, legalisation and operator fusion, exactly as compile_relax does them;
    with `prepack`, the fused functions' weights are marked layout-free (weight_prepack.py)."""
    from tvm import relax
    from tvm.relax import pipeline

    from . import weight_prepack

    try:
        dispatch = list(pipeline.library_dispatch_passes(target))
    except (ValueError, AttributeError):
        dispatch = []
    return dispatch + [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                       relax.transform.FoldConstant(), relax.transform.FuseOps(),
                       relax.transform.FuseTIR()] + (weight_prepack.before_extraction() if prepack else [])


def workload_key(prim_func_mod) -> str:
    import tvm_ffi

    return str(tvm_ffi.structural_hash(prim_func_mod))


def unmarked_key(prim_func_mod) -> str:
    """The key the task has without the layout-free mark: the same operator tuned unpacked (a warm
    start must leave out both)."""
    import tvm

    func = prim_func_mod["main"]
    if func.attrs is None or "layout_free_buffers" not in func.attrs:
        return workload_key(prim_func_mod)
    return workload_key(tvm.IRModule({"main": func.without_attr("layout_free_buffers")}))


def extract_tasks(mod, target, prepack: bool = False) -> list[Task]:
    """The tunable tasks of an unfused Relax module for a target, heaviest first (`prepack`: as a
    board with weight_prepack builds them)."""
    import tvm
    from tvm.s_tir import meta_schedule as ms

    target = tvm.target.Target(target) if not isinstance(target, tvm.target.Target) else target
    with target:
        fused = tvm.transform.Sequential(fusion_passes(target, prepack))(mod)
    extracted = ms.relax_integration.extract_tasks(fused, target)
    tasks = [Task(t.task_name, int(t.weight), workload_key(t.dispatched[0]), t) for t in extracted
             if not t.mod.attrs.get("tirx.is_scheduled", False)]
    return sorted(tasks, key=lambda t: (-t.weight, t.name))
