"""Benchmark: MobileNetV2 (224x224, batch 1) tuned by NACOS vs its peers, measured in one run.

    python3 tools/bench_tune.py --trials 1200 [--width 1.0] [--threads 2] [--schedules DIR]

Prints median latency of NACOS-tuned TVM, untuned TVM, ONNX Runtime and PyTorch eager as ratios
to ONNX Runtime, the outputs' max abs error against PyTorch, and the tuning throughput. The
record store is a fresh temporary folder unless --schedules is given (then known tasks are free).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1200)
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

    from nacos import compiler, zoo
    from nacos.board import load_board
    from nacos.network import from_torch
    from nacos.pipeline import tune_network

    torch.set_num_threads(args.threads)
    name = "mobilenet_v2" if args.width == 1.0 else f"mobilenet_v2_{args.width:g}"
    torch.manual_seed(0)
    shape = (1, 3, 224, 224)
    model = zoo.calibrate_batchnorm(zoo.MobileNetV2(args.width), shape)
    board = load_board("x86")
    net = from_torch(model, [shape], name=name)
    x = net.sample_inputs()[0]
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()

    work = Path(tempfile.mkdtemp(prefix="nacos-bench-"))
    rows = {}

    # PyTorch eager, in a process of its own: the OMP_WAIT_POLICY=passive that keeps tuning fast
    # would slow torch's own OpenMP threads, and the policy is fixed when libgomp loads.
    rows["PyTorch eager"] = (pytorch_eager_ms(args.width, shape, args.threads, args.repeat), 0.0)

    # ONNX Runtime on the same model, exported by torch
    onnx_path = work / f"{name}.onnx"
    torch.onnx.export(model, (torch.from_numpy(x),), str(onnx_path), input_names=["x"], dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    ort_out = session.run(None, {"x": x})[0]
    rows["ONNX Runtime"] = (median_ms(lambda: session.run(None, {"x": x}), args.repeat),
                            float(np.max(np.abs(ort_out - reference))))

    # TVM without tuning (the default pipeline)
    vm = compiler.load_vm(compiler.build(net.mod, board, store=None))
    out = compiler.run(vm, [x])[0]
    rows["TVM untuned"] = (compiler.time_ms(vm, [x], repeat=max(10, args.repeat // 5))["median_ms"],
                           float(np.max(np.abs(out - reference))))

    # NACOS: tune, build with the records, check, time
    schedules = args.schedules or work / "schedules"
    start = time.perf_counter()
    summary = tune_network(net, board, work / "run", args.trials, schedules=schedules, repeat=args.repeat)
    wall = time.perf_counter() - start
    rows[f"NACOS tuned ({summary['trials_spent']} trials)"] = (summary["latency"]["median_ms"],
                                                               summary["check"]["max_abs_error"])

    base = rows["ONNX Runtime"][0]
    print(f"\nMobileNetV2 width {args.width:g}, 224x224, batch 1, {args.threads} threads, "
          f"x86 target {json.dumps(board.tvm_target)}")
    print(f"output max |y| {np.max(np.abs(reference)):.3g}, std {np.std(reference):.3g}")
    print(f"{'':34s} {'median ms':>10s} {'vs ORT':>8s} {'max abs err':>12s}")
    for label, (ms, err) in rows.items():
        print(f"{label:34s} {ms:10.3f} {ms / base:7.2f}x {err:12.2e}")
    tps = summary.get("trials_per_second")
    print(f"tuning: {summary['tasks']} tasks ({summary['tasks_from_store']} from the store), "
          f"{summary['trials_spent']} trials in {summary['tune_seconds']:.0f} s"
          + (f" = {tps:.2f} trials/s" if tps else "") + f"; whole NACOS run {wall:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": {k: {"median_ms": v[0], "vs_ort": v[0] / base, "max_abs_err": v[1]}
                                                  for k, v in rows.items()},
                                         "summary": summary, "wall_seconds": wall}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
