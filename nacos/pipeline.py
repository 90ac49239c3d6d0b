"""The compile path end to end: network -> tasks -> tuned records -> build -> check -> time -> export."""

from __future__ import annotations

from pathlib import Path

from . import artifact, compiler, rundir
from .board import Board
from .errors import NacosError
from .network import Network, TensorSpec
from .records import RecordStore
from .tasks import extract_tasks
from .tuner import SearchSettings, tune


def snapshot(network: Network) -> rundir.SavedNetwork:
    """Fix the network's reference: sample inputs and the source framework's outputs for them."""
    inputs = network.sample_inputs()
    outputs = network.reference(inputs)
    specs = [TensorSpec(f"output{k}", tuple(o.shape), str(o.dtype)) for k, o in enumerate(outputs)]
    return rundir.SavedNetwork(name=network.name, framework=network.framework, mod=network.mod,
                               inputs=network.inputs, outputs=specs, ref_inputs=inputs, ref_outputs=outputs)


def tune_network(network: Network, board: Board, out: Path, trials: int, *, schedules: Path | None = None,
                 rpc=None, repeat: int = 50, progress: bool = True,
                 settings: SearchSettings | None = None, seconds: float | None = None,
                 tasks: list | None = None) -> dict:
    """Tune the new tasks (at most `trials`, and with `seconds` no longer than that), build with every
    record, check against the reference and time it.

    With `rpc` (tracker host, port, key) the check and the timing run on the remote device.
    `tasks`: the network's tasks when the caller extracted them already (1-2 s saved).
    """
    if rpc is not None:
        from . import remote

        remote.check_tracker(rpc)  # one clear line now rather than failed trials later
    if schedules is None:
        schedules = rundir.tuned_schedules(out)  # a rerun of the folder resumes on its store
        if schedules is not None and not schedules.is_dir():  # not a new empty store in its place
            raise NacosError(f"'{out}' was tuned with the record store {schedules}, which no longer exists; "
                             f"give the store with --schedules DIR")
    store = RecordStore.open(board.name, schedules)  # a damaged store is refused before `out` is written
    saved = snapshot(network)
    rundir.save_network(out, saved, board.name, schedules=_remembered_root(store))
    if tasks is None:
        tasks = extract_tasks(network.mod, board.target(), prepack=board.weight_prepack)
    result = tune(tasks, board, store, out, trials, settings=settings, rpc=rpc, progress=progress, seconds=seconds)
    without = [t for t in tasks if result.best_seconds.get(t.key) is None]
    summary = {
        "model": network.name, "framework": network.framework, "target": board.name,
        "out": str(out), "schedules": str(store.path),
        "tasks": len(tasks), "tasks_tuned_here": len(result.planned),
        "tasks_from_store": len(tasks) - len(result.planned), "tasks_without_records": len(without),
        **{k: v for k, v in result.to_json().items() if k != "tasks"},
        "tune_seconds": result.seconds, "check": None, "latency": None,
    }
    if rpc is not None or board.runs_locally:
        executable = compiler.build(network.mod, board, store)
        if rpc is not None:
            measured = remote.measure(executable, board, rpc, saved.ref_inputs, saved.ref_outputs, repeat=repeat)
            check, latency = measured.check, measured.latency
        else:
            vm = compiler.load_vm(executable)
            check = compiler.compare(compiler.run(vm, saved.ref_inputs), saved.ref_outputs)
            latency = compiler.time_ms(vm, saved.ref_inputs, repeat=repeat) if check.ok else None
        summary["check"] = {"max_abs_error": check.max_abs_error, "relative_error": check.relative_error,
                            "tolerance": check.tolerance, "ok": check.ok}
        summary["latency"] = latency
    summary["task_details"] = result.to_json()["tasks"]
    rundir.write_json(out / "result.json", summary)
    return summary


def _remembered_root(store: RecordStore) -> Path | None:
    """The store root a run folder keeps: None for the default store, found again wherever the run is."""
    from .records import default_root

    root = store.path.parent.resolve()
    return None if root == default_root().resolve() else root


def export_run(run: Path, board: Board, out: Path, *, schedules: Path | None = None, force: bool = False) -> dict:
    """Build a tuned run for a board with that board's records and write the artifact.

    The records are those of the store the run was tuned with, unless `schedules` names another.
    An existing `out` is refused first: the build and the check take a minute or more.
    """
    artifact.check_out_dir(out, force)
    saved = rundir.load_network(run)
    if schedules is None:
        schedules = rundir.tuned_schedules(run)
        if schedules is not None and not schedules.is_dir():
            raise NacosError(f"'{run}' was tuned with the record store {schedules}, which no longer exists; "
                             f"give the store with --schedules DIR")
    tasks = extract_tasks(saved.mod, board.target(), prepack=board.weight_prepack)
    store = RecordStore.open(board.name, schedules)
    with_records = sum(store.known(t) for t in tasks)
    executable = compiler.build(saved.mod, board, store)
    latency = None
    if board.runs_locally:
        vm = compiler.load_vm(executable)
        check = compiler.compare(compiler.run(vm, saved.ref_inputs), saved.ref_outputs)
        if not check.ok:
            raise NacosError(f"the build for {board.name} differs from the reference (relative error "
                             f"{check.relative_error:.2e} > {check.tolerance:.0e}); not exported")
        latency = compiler.time_ms(vm, saved.ref_inputs)["median_ms"]
    path = artifact.export(saved, board, executable, out, tuned_latency_ms=latency, tasks_total=len(tasks),
                           tasks_with_records=with_records, force=force)
    info = artifact.read_elf(path / artifact.LIBRARY)
    return {"path": str(path), "target": board.name, "elf_machine": info.arch, "elf_bits": info.bits,
            "hard_float": info.hard_float, "tasks": len(tasks), "tasks_with_records": with_records,
            "schedules": str(store.path), "latency_ms": latency}
