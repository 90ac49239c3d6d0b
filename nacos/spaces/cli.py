"""`nacos space show|sample`: look at architectures of a space, their decisions and static costs.

Registered into the main parser with `add_parser(subparsers)`; each command sets `func`, and
errors are NacosError, which the main CLI prints as one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NacosError


def add_parser(subparsers) -> None:
    space = subparsers.add_parser("space", help="search spaces: show or sample architectures with static costs")
    commands = space.add_subparsers(dest="space_command", required=True)

    p = commands.add_parser("show", help="one architecture: its decisions, static costs and layers")
    p.add_argument("name", help="space name (mbconv, hybrid, nb201, grassroots)")
    p.add_argument("--genotype", type=Path, help="genotype JSON file (default: a random one)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random genotype")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("sample", help="random architectures with their static costs")
    p.add_argument("name", help="space name (mbconv, hybrid, nb201, grassroots)")
    p.add_argument("-n", type=int, default=5, help="how many")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="one JSON list of genotypes and costs")
    p.set_defaults(func=cmd_sample)


def read_genotype(space, path: Path):
    try:
        text = path.read_text()
    except OSError as exc:
        raise NacosError(f"cannot read genotype file '{path}': {exc.strerror}") from None
    try:
        return space.load(text)
    except NacosError as exc:
        raise NacosError(f"'{path}': {exc}") from None


def _si(value: float, unit: str = "") -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}".rstrip()


def _costs_lines(description) -> list[str]:
    return [f"  FLOPs              {_si(description.flops)}  (2 x multiply-accumulates of conv, linear, attention)",
            f"  parameters         {_si(description.params)}",
            f"  peak activations   {description.peak_activation_bytes / 1024:.1f} KiB  "
            f"(float32, eager op order, each tensor freed after its last use)"]


def cmd_show(args) -> int:
    import numpy as np

    from . import get_space

    space = get_space(args.name)
    if args.genotype:
        genotype = read_genotype(space, args.genotype)
        origin = str(args.genotype)
    else:
        genotype = space.sample(np.random.default_rng(args.seed))
        origin = f"random, seed {args.seed}"
    description = space.describe(genotype)
    if args.json:
        print(json.dumps({"genotype": genotype.to_dict(), "key": genotype.key(), **description.to_json()}, indent=1))
        return 0
    decisions = space.decisions(genotype)
    print(f"space {space.name}: {space.title}")
    print(f"input {'x'.join(map(str, space.input_shape))}, {space.num_classes} classes; "
          f"genotype {genotype.key()} ({origin})")
    print(f"decisions ({len(decisions)}):")
    width = max((len(d.name) for d in decisions), default=0)
    for d in decisions:
        print(f"  {d.name:{width}s}  {str(genotype[d.name]):14s} of {' | '.join(map(str, d.choices))}")
    print("static costs (PyTorch module, before batch-norm folding):")
    print("\n".join(_costs_lines(description)))
    print(f"layers ({len(description.layers)}):")
    print(f"  {'name':34s} {'op':20s} {'input':18s} {'output':18s} {'kernel':7s} {'stride':7s} "
          f"{'groups':>6s} {'params':>8s} {'MFLOPs':>8s}")
    for layer in description.layers:
        kernel = "x".join(map(str, layer.kernel)) if layer.kernel else ""
        stride = "x".join(map(str, layer.stride)) if layer.stride else ""
        print(f"  {layer.name:34s} {layer.op:20s} {'x'.join(map(str, layer.input_shape)):18s} "
              f"{'x'.join(map(str, layer.output_shape)):18s} {kernel:7s} {stride:7s} "
              f"{'' if layer.groups is None else layer.groups:>6} {layer.params:8d} {layer.flops / 1e6:8.3f}")
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    from . import get_space

    if args.n < 1:
        raise NacosError(f"-n must be 1 or more (got {args.n})")
    space = get_space(args.name)
    rng = np.random.default_rng(args.seed)
    rows = []
    for _ in range(args.n):
        genotype = space.sample(rng)
        rows.append((genotype, space.describe(genotype)))
    if args.json:
        print(json.dumps([{"genotype": g.to_dict(), "key": g.key(), **d.costs()} for g, d in rows], indent=1))
        return 0
    print(f"space {space.name}: {space.title}")
    print(f"input {'x'.join(map(str, space.input_shape))}, {space.num_classes} classes; seed {args.seed}")
    print(f"{'#':>3s}  {'genotype':12s} {'MFLOPs':>9s} {'params':>9s} {'peak KiB':>9s}  decisions")
    for i, (genotype, d) in enumerate(rows):
        print(f"{i:3d}  {genotype.key():12s} {d.flops / 1e6:9.3f} {d.params:9d} "
              f"{d.peak_activation_bytes / 1024:9.1f}  {space.summary(genotype)}")
    return 0
