"""Fold an ONNX model's shape subgraphs into constants once its input shapes are fixed.

Exporters compute reshape targets at run time: Shape -> Gather -> Concat -> Reshape, a Shape
passed through Identity, a batch size read off the input. TVM's Relax ONNX frontend follows some
of these chains and fails on others ("Reshape requires the input new shape to be Shape",
"cannot handle ShapeExpr inputs"); PaddleOCR's mobile classifier and recogniser hit both. With
the input shapes fixed they are constants, so they are evaluated before the frontend sees them.

onnxslim does this: it fixes the input shapes, infers the others (ONNX Runtime's symbolic shape
inference, onnx's as fallback), folds every tensor that depends only on constants and static
shapes (a Shape of a static tensor, then the ops on it, evaluated by ONNX Runtime, the
reference, so the folded values are the reference's own), removes no-op nodes (Identity,
Dropout, a Cast to the same type, ...) and repeats until nothing changes. It is pure Python and
needs nothing NACOS does not install already. Its graph fusions (conv+BN, MatMul+Add -> Gemm, ...)
and weight tying are switched off: the graph that is imported differs from the file only by
evaluated constants and dropped no-ops, and batch-norm folding stays with Relax (network.prepare).

Not chosen: onnxsim 0.8 (a 10 MB binary wheel that now bundles quantisers and code generators),
and a pass of our own over onnx's shape inference, whose data propagation computes shape values
but only uses them to infer shapes: evaluating the constant subgraphs would re-implement
onnxslim's folder.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import NacosError

# onnxslim's optimisations that rewrite computation rather than evaluate constants.
SKIPPED = ["graph_fusion", "weight_tying"]
INSTALL = "pip install 'onnxslim>=0.1.98,<0.2'"


def fold_shapes(model, input_shapes: Mapping[str, tuple[int, ...]], source: str):
    """A copy of `model` with these input shapes, its constant subgraphs evaluated into initializers.

    `input_shapes` names every real input (graph inputs that are not initializers).
    """
    import onnx

    try:
        import onnxslim
    except ImportError:
        raise NacosError(f"onnxslim is not installed; NACOS needs it to fold the shape subgraphs of "
                         f"ONNX models before import: {INSTALL}") from None
    work = onnx.ModelProto()
    work.CopyFrom(model)  # onnxslim edits the model it is given
    shapes = [f"{name}:{','.join(str(d) for d in shape)}" for name, shape in input_shapes.items()]
    try:
        folded = onnxslim.slim(work, input_shapes=shapes, skip_optimizations=SKIPPED)
    except Exception as exc:  # onnxslim and ONNX Runtime raise many types; the first line says what
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        given = ", ".join(f"{name} {list(shape)}" for name, shape in input_shapes.items())
        raise NacosError(f"'{source}': folding its shape subgraphs for input shapes {given} failed "
                         f"(onnxslim: {text}); check --input-shape against the model") from None
    before = [o.name for o in model.graph.output]
    after = [o.name for o in folded.graph.output]
    if after != before:  # the build is compared with the reference output by output
        raise NacosError(f"'{source}': folding its shape subgraphs changed its outputs from {before} to "
                         f"{after}; NACOS cannot compare such a build with ONNX Runtime")
    return folded
