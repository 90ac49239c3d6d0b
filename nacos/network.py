"""Import: a PyTorch module or an ONNX file becomes a `Network` — a Relax module plus its reference.

The Relax module has its weights bound as constants and batch-norm folded into convolutions (so
that the fused tasks are the ones MetaSchedule should tune, see ../shared/notes/tvm-0.27.md). The
reference runs the source framework on the same inputs, so every build can be checked against it:
PyTorch itself, or for an ONNX file ONNX Runtime (nothing else). ONNX shape subgraphs are folded
before import (onnx_fold).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import NacosError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class Network:
    """A model ready for lowering: Relax IR with bound weights and a way to compute true outputs."""

    name: str
    mod: object  # tvm.IRModule (Relax), unfused, weights bound
    inputs: list[TensorSpec]
    reference: Callable[[list[np.ndarray]], list[np.ndarray]]
    framework: str  # "pytorch" or "onnx"

    def sample_inputs(self, seed: int = 0) -> list[np.ndarray]:
        """Deterministic random inputs (standard normal) for checks and timing."""
        rng = np.random.default_rng(seed)
        return [rng.standard_normal(s.shape).astype(s.dtype) for s in self.inputs]


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' -> (1, 3, 224, 224)."""
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise NacosError(f"bad --input-shape '{text}': give positive integers like 1,3,224,224")
    return shape


def prepare(mod):
    """Fold batch-norm into convolutions and decompose inference-only ops.

    Without the fold, an activation after conv+BN is not fused (MobileNetV2: 47 tasks not 32).
    """
    import tvm
    from tvm import relax

    return tvm.transform.Sequential([
        relax.transform.FoldBatchnormToConv2D(),
        relax.transform.DecomposeOpsForInference(),
        relax.transform.FoldConstant(),
    ])(mod)


# ----------------------------------------------------------------------------- PyTorch


def _flatten_outputs(out) -> list[np.ndarray]:
    import torch

    leaves, _ = torch.utils._pytree.tree_flatten(out)
    return [leaf.detach().cpu().numpy() for leaf in leaves if isinstance(leaf, torch.Tensor)]


def from_torch(model, input_shapes: Sequence[Sequence[int]], name: str = "net") -> Network:
    """Export with torch.export (static shapes) and import into Relax."""
    import torch
    from tvm.relax.frontend.torch import from_exported_program

    if not input_shapes:
        raise NacosError("--input-shape is required for a PyTorch model (e.g. --input-shape 1,3,224,224)")
    model = model.eval()
    examples = tuple(torch.zeros(tuple(s)) for s in input_shapes)
    try:
        with torch.no_grad():
            exported = torch.export.export(_fold_batchnorm(model), examples)
    except Exception as exc:  # torch raises many types; the first line says what failed
        raise NacosError(f"torch.export could not trace '{name}' with input shapes "
                         f"{[list(s) for s in input_shapes]}: {_first_line(exc)}") from None
    try:
        mod = from_exported_program(exported, keep_params_as_input=False)
    except AssertionError as exc:
        ops = re.findall(r"'([^']+)'", str(exc))
        if "Unsupported function" in str(exc) and ops:
            raise NacosError(f"'{name}' uses operators TVM's PyTorch importer does not support: "
                             f"{', '.join(ops)}; replace them in the model") from None
        raise

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            return _flatten_outputs(model(*[torch.from_numpy(x) for x in inputs]))

    specs = [TensorSpec(f"input{i}" if len(input_shapes) > 1 else "input", tuple(s), "float32")
             for i, s in enumerate(input_shapes)]
    return Network(name=name, mod=prepare(mod), inputs=specs, reference=reference, framework="pytorch")


def _fold_batchnorm(model):
    """Fold conv+BN pairs in PyTorch (FX) when the model traces.

    Relax's FoldBatchnormToConv2D leaves the folding arithmetic to FoldConstant, which compiles
    one TIR kernel per constant op: 16 s for a MobileNetV2 here, against 0.1 s for FX's fusion.
    Models FX cannot trace keep their BN, and Relax folds it instead.
    """
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model)
    except Exception:  # symbolic tracing fails on data-dependent control flow: fall back
        return model


def load_python_model(spec: str):
    """'path/to/file.py:build_fn' -> the nn.Module that build_fn() returns."""
    file_part, _, func_name = spec.rpartition(":")
    path = Path(file_part)
    if not path.is_file():
        raise NacosError(f"model file '{path}' not found (expected FILE.py:FUNCTION)")
    module_name = f"nacos_user_{path.stem}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    try:
        loader.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's code: any error, or a stray sys.exit() at import
        sys.modules.pop(module_name, None)
        raise NacosError(f"importing '{path}' failed: {_type_and_first_line(exc)}") from None
    builder = getattr(module, func_name, None)
    if not callable(builder):
        raise NacosError(f"'{path}' has no function '{func_name}' (expected FILE.py:FUNCTION returning an nn.Module)")
    try:
        model = builder()
    except (Exception, SystemExit) as exc:
        raise NacosError(f"calling {func_name}() of '{path}' failed: {_type_and_first_line(exc)}") from None
    import torch

    if not isinstance(model, torch.nn.Module):
        raise NacosError(f"'{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    return model


# ----------------------------------------------------------------------------- ONNX


def from_onnx(path: str | Path, input_shapes: Sequence[Sequence[int]] = ()) -> Network:
    """Import an ONNX file; the real inputs are the graph inputs that are not initializers.

    With the input shapes fixed (given, or static in the file) the shape subgraphs are folded
    first (onnx_fold), since the Relax frontend fails on many of them. ONNX Runtime runs the file
    itself as the reference.
    """
    import onnx
    from onnx import helper

    path = Path(path)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except FileNotFoundError:
        raise NacosError(f"ONNX file '{path}' not found") from None
    except Exception as exc:
        raise NacosError(f"'{path}' is not a valid ONNX model ({_first_line(exc)}); re-export it") from None
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    if input_shapes and len(input_shapes) != len(graph_inputs):
        raise NacosError(f"'{path}' has {len(graph_inputs)} inputs "
                         f"({', '.join(i.name for i in graph_inputs)}) but {len(input_shapes)} --input-shape were given")
    specs: list[TensorSpec] = []
    for k, inp in enumerate(graph_inputs):
        ttype = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in ttype.shape.dim]
        if input_shapes:
            shape = tuple(input_shapes[k])
            if len(shape) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shape)):
                raise NacosError(f"--input-shape {list(shape)} does not fit input '{inp.name}' of shape "
                                 f"{[d if d else '?' for d in dims]}")
        elif any(d is None for d in dims):
            raise NacosError(f"input '{inp.name}' of '{path}' has a dynamic shape "
                             f"{[d if d else '?' for d in dims]}; give a static one with --input-shape")
        else:
            shape = tuple(dims)
        dtype = str(np.dtype(helper.tensor_dtype_to_np_dtype(ttype.elem_type)))
        if not dtype.startswith("float"):
            raise NacosError(f"input '{inp.name}' has dtype {dtype}; NACOS handles float inputs only")
        specs.append(TensorSpec(inp.name, shape, dtype))

    from .onnx_fold import fold_shapes

    ort = _onnxruntime()  # before folding, which evaluates constant subgraphs with it too
    folded = fold_shapes(model, {s.name: s.shape for s in specs}, str(path))
    mod = _relax_from_onnx(folded, path, specs)
    reference = _onnx_reference(ort, path, [s.name for s in specs])
    return Network(name=path.stem, mod=prepare(mod), inputs=specs, reference=reference, framework="onnx")


def _onnxruntime():
    """ONNX Runtime, the one reference for ONNX models: onnx's ReferenceEvaluator is not trusted
    (0.999 off onnx's own light SqueezeNet output, where ONNX Runtime and TVM match it exactly)."""
    try:
        import onnxruntime
    except ImportError:
        raise NacosError("ONNX Runtime is not installed; it is the reference every ONNX model is checked "
                         "against: pip install 'onnxruntime>=1.18' (bash tools/install.sh installs it)") from None
    return onnxruntime


def _onnx_reference(ort, path: Path, input_names: list[str]):
    """ONNX Runtime on the file as given (not the folded copy): the build is checked against it."""
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime's own error types
        raise NacosError(f"ONNX Runtime cannot load '{path}' ({_first_line(exc)}); it is the reference for "
                         f"ONNX models, so a build of this one could not be checked") from None

    def run(inputs):
        return list(session.run(None, dict(zip(input_names, inputs))))
    return run


# Ops the frontend handles outside its converter map (TVM 0.27's ONNXGraphImporter).
_DIRECT_OPS = {"If", "Constant"}


def _relax_from_onnx(model, path: Path, specs: list[TensorSpec]):
    """TVM's Relax ONNX frontend; a failure is one line naming the node and operator it stopped at.

    The importer is driven directly (as tvm.relax.frontend.onnx.from_onnx does) so that its
    converted-node table tells which node failed: nodes convert in graph order, and the first
    one without converted outputs is the one. This reads frontend internals of the pinned TVM.
    """
    import contextlib
    import io

    from tvm.relax.frontend.onnx import onnx_frontend as frontend

    nodes = list(model.graph.node)
    convert_map = frontend._get_convert_map()
    unsupported = [n for n in nodes if n.op_type not in convert_map and n.op_type not in _DIRECT_OPS]
    if unsupported:
        ops = ", ".join(dict.fromkeys(n.op_type for n in unsupported))
        first = _describe_node(unsupported[0])
        if len(unsupported) == 1:
            raise NacosError(f"'{path}': {first} uses an operator not supported for frontend ONNX: {ops}; "
                             f"replace it in the model")
        raise NacosError(f"'{path}': {first} and {len(unsupported) - 1} more nodes use operators not supported "
                         f"for frontend ONNX: {ops}; replace them in the model")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    importer = frontend.ONNXGraphImporter({s.name: list(s.shape) for s in specs}, "float32",
                                          keep_params_in_input=False)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a failing node's inputs
            return importer.from_onnx(model.graph, opset)
    except Exception as exc:  # converters raise ValueError, NotImplementedError, TVM errors, ...
        converted = importer._nodes
        failed = None
        if all(i.name in converted for i in model.graph.input):  # past the inputs: in the nodes
            failed = next((n for n in nodes if any(o and o not in converted for o in n.output)), None)
        reason = _type_and_first_line(exc).rstrip(".")
        if failed is None:  # in the graph's initializers, inputs or outputs
            raise NacosError(f"'{path}': TVM's ONNX frontend cannot convert the graph: {reason}") from None
        raise NacosError(f"'{path}': TVM's ONNX frontend cannot convert {_describe_node(failed)}: {reason}; "
                         f"replace that operator in the model") from None


def _describe_node(node) -> str:
    """How an error names a node: node 'conv_3' (Conv), or when unnamed, the Conv node computing 'y'."""
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    if node.name:
        return f"node '{node.name}' ({op})"
    return f"the {op} node computing '{node.output[0]}'" if node.output else f"a {op} node"


# ----------------------------------------------------------------------------- dispatch


def load_network(spec: str, input_shapes: Sequence[Sequence[int]] = ()) -> Network:
    """A model named on the command line: FILE.onnx, FILE.py:FUNCTION or builtin:NAME."""
    if spec.startswith("builtin:"):
        from . import zoo

        model, default_shape = zoo.build(spec.split(":", 1)[1])
        return from_torch(model, input_shapes or [default_shape], name=spec.split(":", 1)[1])
    if spec.endswith(".onnx"):
        return from_onnx(spec, input_shapes)
    if ".py:" in spec:
        model = load_python_model(spec)
        return from_torch(model, input_shapes, name=spec.rpartition(":")[2])
    raise NacosError(f"cannot tell what model '{spec}' is: give FILE.onnx, FILE.py:FUNCTION or builtin:NAME")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _type_and_first_line(exc: BaseException) -> str:
    """'ValueError: bad width': for errors of the user's code, whose type says as much as its text."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
