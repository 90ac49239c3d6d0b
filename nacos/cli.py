"""The `nacos` command line: targets, tune, export, run; tune and export are thin layers over api.py.

Every user error ends as one line on stderr ("nacos: error: ...") and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from . import measuring
from .errors import NacosError
from .accuracy.cli import add_parser as add_accuracy_parser
from .search.cli import add_parser as add_search_parser
from .spaces.cli import add_parser as add_space_parser
from .costmodel.cli import add_parser as add_costmodel_parser
from .records_cli import add_parser as add_records_parser

DEMO_MODEL = "builtin:tiny-cnn"
DEMO_TRIALS = 160


def cmd_targets(args) -> int:
    from .board import list_boards

    boards = list_boards()
    if args.json:
        print(json.dumps([b.describe() for b in boards], indent=1))
        return 0
    for b in boards:
        where = "local" if b.runs_locally else f"cross ({b.cross_compiler})"
        print(f"{b.name:9s} {b.arch:8s} {b.threads:2d} threads  {where:32s} {b.description}")
        print(f"{'':9s} target {json.dumps(b.tvm_target)}" + "".join(f"\n{'':9s} {n}" for n in b.notes))
    return 0


def cmd_tune(args) -> int:
    from . import api

    if args.demo:
        args.model = args.model or DEMO_MODEL
        args.trials = DEMO_TRIALS if args.trials is None else args.trials
        args.out = args.out or Path("runs/demo")
    if not args.model or args.out is None:
        raise NacosError("give a model and --out (e.g. nacos tune model.onnx --target x86 --out runs/m), or --demo")
    summary = api.tune(args.model, out=args.out, target=args.target, trials=args.trials, minutes=args.minutes,
                       input_shapes=args.input_shape,
                       schedules=args.schedules, rpc=args.rpc_tracker, rpc_key=args.rpc_key, repeat=args.repeat,
                       progress=not args.quiet)
    print(json.dumps(summary, indent=1) if args.json else _format_summary(summary))
    return 0 if summary["check"] is None or summary["check"]["ok"] else 1


def _format_summary(s: dict) -> str:
    lines = [f"{s['model']} on {s['target']}: {s['tasks']} tasks, {s['tasks_tuned_here']} tuned now, "
             f"{s['tasks_from_store']} from the record store ({s['schedules']})",
             (f"trials {s['trials_spent']}/{s['trials_budget']}" if s.get("seconds_budget") is None else
              f"trials {s['trials_spent']} (budget {s['seconds_budget'] / 60:g} min)") + f" in {s['tune_seconds']:.0f} s"
             + (f" ({s['trials_per_second']:.2f} trials/s)" if s.get("trials_per_second") else "")]
    if s["tasks_without_records"]:
        lines.append(f"warning: {s['tasks_without_records']} tasks have no record and run unscheduled (slow)")
    if s["estimated_latency_ms"] is not None:
        lines.append(f"sum of best task times: {s['estimated_latency_ms']:.3f} ms")
    if s["check"]:
        c = s["check"]
        lines.append(f"check vs {s['framework']}: max abs error {c['max_abs_error']:.2e} "
                     f"({'ok' if c['ok'] else 'FAILED'}, tolerance {c['tolerance']:.0e} relative)")
    if s["latency"]:
        lines.append(f"latency: median {s['latency']['median_ms']:.3f} ms over {s['latency']['repeat']} runs")
    lines.append(f"run folder: {s['out']}  (next: nacos export {s['out']} --target {s['target']} --out DIR)")
    return "\n".join(lines)


def cmd_export(args) -> int:
    from . import api

    out = api.export(args.run, out=args.out, target=args.target, pick=args.pick, schedules=args.schedules,
                     force=args.force)
    print(json.dumps(out, indent=1) if args.json else
          f"exported {out['path']} for {out['target']} ({out['elf_machine']}, {out['tasks_with_records']}/"
          f"{out['tasks']} tasks tuned, records from {out['schedules']})")
    return 0


def cmd_run(args) -> int:
    from . import artifact

    art = artifact.open_artifact(Path(args.artifact))
    from .board import HOST_ARCH

    if art.arch == HOST_ARCH:
        os.environ.setdefault("TVM_NUM_THREADS", str(art.manifest["board"]["threads"]))
        result = artifact.verify_and_time(art, repeat=args.repeat, tolerance=args.tolerance)
    else:
        result = artifact.describe_foreign(art)
    result = {"artifact": str(art.path), "board": art.manifest["board"]["name"], **result}
    print(json.dumps(result, indent=1))
    if not result["ok"]:
        raise NacosError(f"output differs from the reference: max abs error {result['max_abs_error']:.3g} "
                         f"(relative {result['relative_error']:.3g} > {result['tolerance']:.0e})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nacos", description="Hardware-aware network and schedule co-search on TVM")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("targets", help="list the boards NACOS knows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("tune", help="tune an existing PyTorch or ONNX model for a board")
    p.add_argument("model", nargs="?", help="FILE.onnx, FILE.py:FUNCTION (returns an nn.Module) or builtin:NAME")
    p.add_argument("--demo", action="store_true", help=f"tune the built-in {DEMO_MODEL} into runs/demo")
    p.add_argument("--target", default="x86", help="board name (nacos targets) or a board .toml file")
    p.add_argument("--trials", type=int, default=None,
                   help="global trial budget for the new tasks (default 1000; none with --minutes)")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall-clock budget of the tuning: no new candidates after it (resumed tunes get the rest)")
    p.add_argument("--out", type=Path, help="run folder (rerun with the same folder to resume)")
    p.add_argument("--input-shape", action="append", help="static input shape, e.g. 1,3,224,224 (once per input)")
    p.add_argument("--schedules", type=Path, help="record store root (default: the user store over the shipped "
                                                 "records, or the one --out was tuned with)")
    measuring.add_arguments(p)
    p.add_argument("--repeat", type=int, default=50, help="timing repeats of the tuned network")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("export", help="export a tuned run as a self-contained artifact for a board")
    p.add_argument("run", help="run folder written by nacos tune, or a search folder with --pick")
    p.add_argument("--pick", help="key of a search candidate to export (see nacos report)")
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--schedules", type=Path, help="record store root (default: the one the run was tuned with)")
    p.add_argument("--force", action="store_true", help="replace an existing artifact folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("run", help="load an artifact, check it against its reference and time it")
    p.add_argument("artifact")
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--tolerance", type=float, default=None)
    p.set_defaults(func=cmd_run)

    add_space_parser(sub)
    add_costmodel_parser(sub)
    add_accuracy_parser(sub)
    add_search_parser(sub)
    add_records_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Idle OpenMP threads of torch and xgboost spin by default, taking cores from the builder and
    # runner processes; this must be set before either library loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NacosError as exc:
        print(f"nacos: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nacos: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
