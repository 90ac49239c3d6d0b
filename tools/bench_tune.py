"""Benchmark: a model tuned by NACOS vs its peers, measured in one run.

    python3 tools/bench_tune.py --model mobilenet_v2|resnet50|FILE.onnx --minutes 20 [--threads 2]
                                [--trials N] [--width 1.0] [--schedules DIR]

Prints median latency of NACOS-tuned TVM, untuned TVM, ONNX Runtime and PyTorch eager (torch
models) as ratios to ONNX Runtime, the outputs' max abs error against the reference (PyTorch,
or ONNX Runtime for ONNX files), the tuning throughput, and how close each is to the machine:
the model's FLOPs (TVM's count over its tasks) at the peak FLOP/s of a BLAS sgemm on the same
threads. The tuned build's time is split into its kernels and the rest (kernel_times.py). The
record store is a fresh temporary folder unless --schedules is given (then known tasks are free).
`--minutes` bounds the tune by the clock (no trial limit unless --trials); without it 1200 trials.
The model is also built with the shipped records and no tuning ("shipped store, 0 trials"): what
a user gets at once for a model the store may never have seen.
`resnet50` is onnx's own light ResNet-50 (real shapes, constant weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

THREADS_FLAG = "--threads"
if THREADS_FLAG in sys.argv:  # BLAS reads its thread count when numpy loads
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index(THREADS_FLAG) + 1]
else:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402


def median_ms(fn, repeat: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e3)
    return float(np.median(samples))


EAGER_SNIPPET = """
import sys, time, numpy as np, torch
from nacos import zoo
width, threads, repeat = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
shape = (1, 3, 224, 224)
torch.set_num_threads(threads)
torch.manual_seed(0)
model = zoo.calibrate_batchnorm(zoo.MobileNetV2(width), shape)
x = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype("float32"))
with torch.no_grad():
    for _ in range(5):
        model(x)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        model(x)
        samples.append((time.perf_counter() - t) * 1e3)
print(float(np.median(samples)))
"""


def pytorch_eager_ms(width: float, shape, threads: int, repeat: int) -> float:
    """Median eager latency, measured in a child process with torch's default OpenMP policy."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", EAGER_SNIPPET, str(width), str(threads), str(repeat)],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def resnet50_path() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / "light_resnet50.onnx"


def peak_gflops(n: int = 2048, repeat: int = 5) -> float:
    """The machine's float32 peak as a BLAS sgemm reaches it (best of `repeat`)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    b = a.T.copy()
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def network_flops(mod, target) -> tuple[float, list[str]]:
    """FLOPs of one inference (TVM's count of each task's TIR times its calls), and the tasks
    TVM cannot count (left out of the sum, and printed)."""
    from tvm.s_tir.analysis import estimate_tir_flops

    from nacos.tasks import extract_tasks

    total, uncounted = 0.0, []
    for task in extract_tasks(mod, target):
        try:
            total += task.weight * float(estimate_tir_flops(task.prim_func_mod))
        except Exception:  # noqa: BLE001 - TVM's counter raises on a few ops
            uncounted.append(task.name)
    return total, uncounted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2", help="mobilenet_v2, resnet50 or an ONNX file")
    parser.add_argument("--trials", type=int, default=None, help="trial budget (default 1200, none with --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget of the tune")
    parser.add_argument("--warm-start", action="store_true", help="train the cost model on the shipped "
                        "records of other workloads first (warm_start.py)")
    parser.add_argument("--transfer", action="store_true", help="give each new task a first trial transferred "
                        "from the shipped records of its nearest similar workload (transfer.py)")
    parser.add_argument("--prepack", action="store_true", help="tune and build with weight prepacking "
                        "(weight_prepack.py; the shipped-store row stays without: its records are unpacked)")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--schedules", type=Path, help="record store root (default: a fresh temporary one)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ["TVM_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # idle torch/xgboost threads must not spin

    import onnxruntime as ort
    import torch

    from nacos import compiler, kernel_times, transfer, zoo
    from nacos.api import UNLIMITED_TRIALS
    from nacos.board import load_board
    from nacos.homes import SHIPPED_SCHEDULES
    from nacos.network import from_onnx, from_torch
    from nacos.pipeline import tune_network
    from nacos.records import RecordStore
    from nacos.tasks import extract_tasks
    from nacos.tuner import SearchSettings

    torch.set_num_threads(args.threads)
    board = load_board("x86")
    work = Path(tempfile.mkdtemp(prefix="nacos-bench-"))
    rows = {}
    if args.model == "mobilenet_v2":
        name = "mobilenet_v2" if args.width == 1.0 else f"mobilenet_v2_{args.width:g}"
        torch.manual_seed(0)
        shape = (1, 3, 224, 224)
        model = zoo.calibrate_batchnorm(zoo.MobileNetV2(args.width), shape)
        net = from_torch(model, [shape], name=name)
        x = net.sample_inputs()[0]
        with torch.no_grad():
            reference = model(torch.from_numpy(x)).numpy()
        # PyTorch eager, in a process of its own: the OMP_WAIT_POLICY=passive that keeps tuning fast
        # would slow torch's own OpenMP threads, and the policy is fixed when libgomp loads.
        rows["PyTorch eager"] = (pytorch_eager_ms(args.width, shape, args.threads, args.repeat), 0.0)
        onnx_path = work / f"{name}.onnx"
        torch.onnx.export(model, (torch.from_numpy(x),), str(onnx_path), input_names=["x"], dynamo=False)
        input_name = "x"
    else:
        onnx_path = resnet50_path() if args.model == "resnet50" else Path(args.model)
        net = from_onnx(onnx_path)
        if len(net.inputs) != 1:
            print(f"error: {onnx_path} has {len(net.inputs)} inputs; this benchmark times one-input models")
            return 2
        name, input_name = net.name, net.inputs[0].name
        x = net.sample_inputs()[0]
        reference = net.reference([x])[0]  # ONNX Runtime on the file

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    ort_out = session.run(None, {input_name: x})[0]
    rows["ONNX Runtime"] = (median_ms(lambda: session.run(None, {input_name: x}), args.repeat),
                            float(np.max(np.abs(ort_out - reference))))

    def timed(executable) -> tuple[float, float]:
        """A row of a build with no new trial: median ms (fewer repeats, as untuned ones are slow), max abs error."""
        vm = compiler.load_vm(executable)
        out = compiler.run(vm, [x])[0]
        return (compiler.time_ms(vm, [x], repeat=max(10, args.repeat // 5))["median_ms"],
                float(np.max(np.abs(out - reference))))

    rows["TVM untuned"] = timed(compiler.build(net.mod, board, store=None))  # the default pipeline
    # the shipped records alone, no tuning: tasks they hold get their schedule, the rest run untuned
    shipped = RecordStore.open(board.name, SHIPPED_SCHEDULES)
    tasks = extract_tasks(net.mod, board.target())
    known = sum(shipped.known(t) for t in tasks)
    rows[f"shipped store, 0 trials ({known}/{len(tasks)} tasks)"] = timed(compiler.build(net.mod, board, shipped))
    # ... and the tasks they lack scheduled by transfer from their nearest workloads (transfer.py)
    moved = transfer.transfer(tasks, shipped.folders, board.target())
    rows[f"shipped + transferred, 0 trials ({known}+{len(moved)}/{len(tasks)})"] = timed(
        compiler.build(net.mod, board, shipped, database=transfer.database(shipped.database, moved)))

    # NACOS: tune, build with the records, check, time
    schedules = args.schedules or work / "schedules"
    trials = args.trials if args.trials is not None else (1200 if args.minutes is None else UNLIMITED_TRIALS)
    start = time.perf_counter()
    tuned_board = dataclasses.replace(board, weight_prepack=args.prepack)
    summary = tune_network(net, tuned_board, work / "run", trials, schedules=schedules, repeat=args.repeat,
                           seconds=None if args.minutes is None else 60.0 * args.minutes,
                           settings=SearchSettings(
                               warm_start_from=(SHIPPED_SCHEDULES / board.name,) if args.warm_start else (),
                               transfer_from=(SHIPPED_SCHEDULES / board.name,) if args.transfer else ()))
    wall = time.perf_counter() - start
    label = f"NACOS tuned ({summary['trials_spent']} trials{', prepacked' if args.prepack else ''})"
    rows[label] = (summary["latency"]["median_ms"], summary["check"]["max_abs_error"])
    # built again for the split: tune_network keeps no executable (about 20 s for MobileNetV2)
    tuned_vm = compiler.load_vm(compiler.build(net.mod, tuned_board, RecordStore.open(board.name, schedules)))
    split = kernel_times.measure(tuned_vm, [x], repeat=max(10, args.repeat // 5))
    flops, uncounted = network_flops(net.mod, board.target())
    peak = peak_gflops()

    base = rows["ONNX Runtime"][0]
    limit_ms = flops / (peak * 1e9) * 1e3
    print(f"\n{name}, input {list(x.shape)}, {args.threads} threads, x86 target {json.dumps(board.tvm_target)}")
    print(f"{flops / 1e9:.3f} GFLOPs; machine peak {peak:.1f} GFLOP/s (BLAS sgemm, {args.threads} threads) "
          f"-> {limit_ms:.3f} ms at peak" + (f" ({len(uncounted)} tasks TVM cannot count left out: "
                                             f"{', '.join(uncounted)})" if uncounted else ""))
    print(f"output max |y| {np.max(np.abs(reference)):.3g}, std {np.std(reference):.3g}")
    print(f"{'':44s} {'median ms':>10s} {'vs ORT':>8s} {'% of peak':>10s} {'max abs err':>12s}")
    for label, (ms, err) in rows.items():
        print(f"{label:44s} {ms:10.3f} {ms / base:7.2f}x {100 * limit_ms / ms:9.1f}% {err:12.2e}")
    print(f"tuned build: {split.end_to_end_ms:.3f} ms end to end = kernels {split.kernels_ms:.3f} ms "
          f"({split.calls} calls, each timed alone) + {split.outside_kernels_ms:.3f} ms outside them "
          f"({split.builtin_calls} VM builtin calls, copies, cold cache)")
    for kernel, ms in split.heaviest(5):
        print(f"  {kernel:50s} {ms:7.3f} ms")
    tps = summary.get("trials_per_second")
    print(f"tuning: {summary['tasks']} tasks ({summary['tasks_from_store']} from the store), "
          f"{summary['trials_spent']} trials in {summary['tune_seconds'] / 60:.1f} min"
          + (f" = {tps:.2f} trials/s" if tps else "")
          + ("" if args.minutes is None else f" (budget {args.minutes:g} min)") + f"; whole NACOS run {wall:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": {k: {"median_ms": v[0], "vs_ort": v[0] / base, "max_abs_err": v[1]}
                                                  for k, v in rows.items()},
                                         "summary": summary, "wall_seconds": wall, "flops": flops,
                                         "peak_gflops": peak, "kernels_ms": split.kernels_ms,
                                         "outside_kernels_ms": split.outside_kernels_ms}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
