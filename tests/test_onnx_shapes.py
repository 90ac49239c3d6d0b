"""ONNX models whose shape subgraphs TVM's Relax frontend cannot follow import once folded, build
and match ONNX Runtime; what still cannot be converted is one line naming the node; ONNX Runtime
is the only reference."""

import sys

import numpy as np
import pytest

from conftest import make_onnx, make_onnx_det
from nacos import compiler
from nacos.board import load_board
from nacos.cli import main
from nacos.errors import NacosError
from nacos.network import load_network
from nacos.onnx_fold import fold_shapes

SHAPE_OPS = {"Shape", "Gather", "Slice", "Concat", "Identity", "Unsqueeze"}


@pytest.fixture(scope="module")
def x86():
    return load_board("x86")


def _save(path, nodes, inputs, outputs, initializers, opset=17):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _conv_reshape_matmul(path, shape_nodes, batch=1):
    """x -> Conv -> (reshape to [batch, -1] with a target computed by `shape_nodes` from Shape(c)) -> MatMul.

    `shape_nodes` turn tensor 's' (Shape of the conv output) into 'target', the new shape.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((256, 10)).astype(np.float32) / 16, "fc"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Shape", ["c"], ["s"], name="shape"),
             *shape_nodes,
             helper.make_node("Reshape", ["c", "target"], ["flat"], name="flatten"),
             helper.make_node("MatMul", ["flat", "fc"], ["y"], name="matmul")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])
    return _save(path, nodes, [x], [y], inits)


def shape_gather_concat(path):
    """Shape -> Gather (1-D index) -> Concat -> Reshape: "Reshape requires the input new shape to be Shape"."""
    from onnx import helper

    return _conv_reshape_matmul(path, [
        helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
        helper.make_node("Concat", ["n", "minus_one"], ["target"], name="concat", axis=0)])


def shape_identity(path):
    """Shape -> Identity -> Slice -> Concat -> Reshape: "Node ... cannot handle ShapeExpr inputs"."""
    from onnx import helper

    return _conv_reshape_matmul(path, [
        helper.make_node("Identity", ["s"], ["s_copy"], name="shape_copy"),
        helper.make_node("Slice", ["s_copy", "zero", "one", "zero"], ["n"], name="batch"),
        helper.make_node("Concat", ["n", "minus_one"], ["target"], name="concat", axis=0)])


def torch_view_flatten(path):
    """A conv net flattening with x.view(x.size(0), -1), exported with a dynamic batch axis."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 10)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            return self.fc(x.view(x.size(0), -1))

    torch.manual_seed(0)
    torch.onnx.export(Net().eval(), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return path


def _untuned_max_error(net, board):
    vm = compiler.load_vm(compiler.build(net.mod, board, store=None))
    inputs = net.sample_inputs(seed=3)
    out, ref = compiler.run(vm, inputs), net.reference(inputs)
    check = compiler.compare(out, ref)
    assert check.ok, check
    return out, ref, check.max_abs_error


@pytest.mark.parametrize("build, frontend_error", [
    (shape_gather_concat, "Reshape requires the input new shape to be Shape"),
    (shape_identity, "cannot handle ShapeExpr inputs"),
])
def test_shape_subgraphs_fold_import_and_match_onnxruntime(tmp_path, x86, build, frontend_error):
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    path = build(tmp_path / f"{build.__name__}.onnx")
    model = onnx.load(str(path))
    with pytest.raises(Exception, match=frontend_error):  # what the frontend does with the file as it is
        from_onnx(model, shape_dict={"x": [1, 3, 8, 8]}, keep_params_in_input=False)
    folded = fold_shapes(model, {"x": (1, 3, 8, 8)}, str(path))
    assert not SHAPE_OPS & {n.op_type for n in folded.graph.node}
    assert [n.op_type for n in folded.graph.node] == ["Conv", "Reshape", "MatMul"]
    net = load_network(str(path))
    out, ref, err = _untuned_max_error(net, x86)
    assert out[0].shape == ref[0].shape == (1, 10)
    assert err < 1e-4 and np.max(np.abs(ref[0])) > 0.1  # numbers, not zeros


def test_torch_export_with_size_view_imports_at_a_fixed_batch(tmp_path, x86):
    import onnx

    path = torch_view_flatten(tmp_path / "view.onnx")
    assert "Shape" in {n.op_type for n in onnx.load(str(path)).graph.node}  # the exporter kept x.size(0)
    with pytest.raises(NacosError, match="dynamic shape"):
        load_network(str(path))
    net = load_network(str(path), [(2, 3, 8, 8)])
    out, ref, err = _untuned_max_error(net, x86)
    assert out[0].shape == ref[0].shape == (2, 10)
    assert err < 1e-4 and np.max(np.abs(ref[0])) > 0.01


def conv4d(path):
    """A 4-D convolution: valid ONNX, and no Relax conv takes more than 3 spatial dimensions."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 1, 2, 2, 2, 2), np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 3, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2, 2, 2])
    return _save(path, [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                        helper.make_node("Conv", ["r", "w"], ["y"], name="conv4d")], [x], [y], [w])


def test_what_the_frontend_cannot_convert_is_one_line_naming_node_and_op(tmp_path, capsys):
    with pytest.raises(NacosError) as failed:
        load_network(str(conv4d(tmp_path / "conv4d.onnx")))
    text = str(failed.value)
    assert "\n" not in text
    assert text == (f"'{tmp_path / 'conv4d.onnx'}': TVM's ONNX frontend cannot convert node 'conv4d' (Conv): "
                    f"NotImplementedError: Ndim > 5 not supported for convolution; replace that operator in the model")
    assert capsys.readouterr().out == ""  # the frontend's print of the node's inputs is not passed on

    with pytest.raises(NacosError) as unsupported:  # an operator outside the frontend's converter map
        load_network(str(make_onnx_det(tmp_path / "det.onnx")))
    assert str(unsupported.value) == (f"'{tmp_path / 'det.onnx'}': the Det node computing 'y' uses an operator not "
                                      f"supported for frontend ONNX: Det; replace it in the model")


def test_onnxruntime_is_the_only_reference(tmp_path, monkeypatch, capsys):
    path = make_onnx(tmp_path / "m.onnx", "Sigmoid")
    net = load_network(str(path))
    import onnxruntime as ort

    x = net.sample_inputs(seed=5)
    direct = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x[0]})
    assert np.array_equal(net.reference(x)[0], direct[0])

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    with pytest.raises(NacosError, match=r"ONNX Runtime is not installed.*pip install 'onnxruntime>=1.18'"):
        load_network(str(path))
    out = tmp_path / "out"
    assert main(["tune", str(path), "--target", "x86", "--trials", "0", "--out", str(out), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nacos: error: ONNX Runtime is not installed")
    assert not out.exists()
