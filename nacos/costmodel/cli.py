"""`nacos costmodel ...`: learned latency predictors, trained and judged from the command line.

Registered into the main parser with `add_parser(subparsers)`; each command sets `func`, and
errors are NacosError, which the main CLI prints as one line. A new command is one more
`commands.add_parser(...)` block in `add_parser` plus its `cmd_*` function.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NacosError


def add_parser(subparsers) -> None:
    costmodel = subparsers.add_parser("costmodel", help="learned latency predictors (cost models)")
    commands = costmodel.add_subparsers(dest="costmodel_command", required=True)

    p = commands.add_parser("fewshot", help="predict a new device's NAS-Bench-201 latencies from a few samples "
                                            "and other devices, and score the prediction")
    p.add_argument("--data", type=Path, required=True,
                   help="latency CSV: nb201_index,arch, then one column of milliseconds per device")
    p.add_argument("--target-device", required=True, help="column of the device to predict")
    p.add_argument("--source-devices", required=True, help="comma-separated columns the predictor learns from")
    p.add_argument("--samples", type=int, default=10, help="measured target architectures the predictor may see")
    p.add_argument("--seed", type=int, default=0, help="which target architectures are the samples")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fewshot)


def _device_list(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise NacosError("--source-devices is empty; give comma-separated device columns")
    if len(set(devices)) != len(devices):
        raise NacosError(f"--source-devices names a device twice: {text}")
    return devices


def cmd_fewshot(args) -> int:
    from .fewshot import load_latency_table, run_fewshot

    sources = _device_list(args.source_devices)
    table = load_latency_table(args.data)
    result = run_fewshot(table, args.target_device, sources, samples=args.samples, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"target {result['target']}: {result['samples']} measured samples (seed {result['seed']}), "
          f"sources {', '.join(result['sources'])}")
    print(f"architectures: {result['archs']} connected ({result['dropped_disconnected']} disconnected dropped), "
          f"{result['evaluated']} scored (all but the samples)")
    print(f"  {'':16s} {'Spearman':>9s} {'Kendall':>9s} {'MAPE':>7s}")
    print(f"  {'few-shot':16s} {result['spearman']:9.4f} {result['kendall']:9.4f} {100 * result['mape']:6.1f}%")
    flops = result["flops_baseline"]
    print(f"  {'FLOPs alone':16s} {flops['spearman']:9.4f} {flops['kendall']:9.4f} {'':>7s}")
    print(f"mean uncertainty (std of log-latency over bootstrap refits): {result['mean_log_spread']:.3f}")
    return 0
