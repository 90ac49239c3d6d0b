import numpy as np
import pytest

from conftest import make_onnx, make_onnx_det
from nacos import compiler
from nacos.board import load_board
from nacos.errors import NacosError
from nacos.network import from_torch, load_network, parse_shape
from nacos.tasks import extract_tasks


@pytest.fixture(scope="module")
def x86():
    return load_board("x86")


def _untuned_outputs(net, board):
    vm = compiler.load_vm(compiler.build(net.mod, board, store=None))
    inputs = net.sample_inputs(seed=3)
    return compiler.run(vm, inputs), net.reference(inputs)


def test_pytorch_file_function_matches_torch(models_py, x86):
    net = load_network(f"{models_py}:build_net", [(1, 1, 16, 16)])
    assert net.framework == "pytorch" and net.inputs[0].shape == (1, 1, 16, 16)
    out, ref = _untuned_outputs(net, x86)
    assert len(out) == 1 and out[0].shape == (1, 10)
    assert np.max(np.abs(out[0] - ref[0])) < 1e-5


def test_onnx_real_inputs_exclude_initializers_and_match_onnxruntime(tmp_path, x86):
    net = load_network(str(make_onnx(tmp_path / "m.onnx", "Sigmoid")))
    assert [s.name for s in net.inputs] == ["x"]  # "w" is an initializer, not an input
    out, ref = _untuned_outputs(net, x86)
    assert out[0].shape == (1, 4, 8, 8) and np.max(np.abs(out[0] - ref[0])) < 1e-5


def test_onnx_dynamic_shape_needs_input_shape(tmp_path, x86):
    path = make_onnx(tmp_path / "dyn.onnx", dynamic=True)
    with pytest.raises(NacosError, match="dynamic shape.*--input-shape"):
        load_network(str(path))
    net = load_network(str(path), [(2, 3, 8, 8)])
    out, ref = _untuned_outputs(net, x86)
    assert out[0].shape == (2, 4, 8, 8) and np.max(np.abs(out[0] - ref[0])) < 1e-5
    with pytest.raises(NacosError, match="does not fit input 'x'"):
        load_network(str(path), [(2, 3, 9, 8)])


def _user_model(folder, name, source):
    """A FILE.py:build model spec whose file holds `source`."""
    (folder / f"{name}.py").write_text(source)
    return f"{folder / name}.py:build"


@pytest.mark.parametrize("setup, pattern", [
    (lambda d, m: (d / "bad.onnx").write_bytes(b"\x08\x01garbage-not-protobuf") and str(d / "bad.onnx"),
     "is not a valid ONNX model"),
    (lambda d, m: str(make_onnx_det(d / "det.onnx")), "not supported.*Det"),
    (lambda d, m: str(d / "missing.onnx"), "not found"),
    (lambda d, m: f"{m}:build_unsupported", "does not support: special_bessel_j0"),
    (lambda d, m: f"{m}:build_not_a_module", "not a torch.nn.Module"),
    (lambda d, m: f"{m}:no_such_function", "has no function 'no_such_function'"),
    (lambda d, m: _user_model(d, "fails_on_import", "raise ValueError('weights.pt not found')\n"),
     "importing '.*fails_on_import.py' failed: ValueError: weights.pt not found"),
    (lambda d, m: _user_model(d, "fails_on_call", "def build():\n    return {}['width']\n"),
     r"calling build\(\) of '.*fails_on_call.py' failed: KeyError: 'width'"),
    (lambda d, m: "builtin:resnet9000", "unknown built-in model"),
    (lambda d, m: "model.tflite", "cannot tell what model"),
])
def test_bad_models_raise_one_clear_error(tmp_path, models_py, setup, pattern):
    with pytest.raises(NacosError, match=pattern):
        load_network(setup(tmp_path, models_py), [(1, 1, 16, 16)] if ".py:" in setup(tmp_path, models_py) else [])


def test_pytorch_model_needs_input_shape(models_py):
    with pytest.raises(NacosError, match="--input-shape is required"):
        load_network(f"{models_py}:build_net")


def test_parse_shape():
    assert parse_shape("1,3,224,224") == (1, 3, 224, 224)
    for bad in ("", "1,a", "1,-3"):
        with pytest.raises(NacosError, match="bad --input-shape"):
            parse_shape(bad)


def test_same_operator_in_two_networks_is_one_task(x86):
    import torch
    from torch import nn

    conv = lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())  # noqa: E731
    a = from_torch(nn.Sequential(conv(), nn.Flatten(), nn.Linear(8 * 64, 4)), [(1, 3, 8, 8)], "a")
    b = from_torch(nn.Sequential(conv(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16, 2)), [(1, 3, 8, 8)], "b")
    torch.manual_seed(0)
    ta, tb = extract_tasks(a.mod, x86.target()), extract_tasks(b.mod, x86.target())
    conv_a = [t for t in ta if "conv2d" in t.name]
    conv_b = [t for t in tb if "conv2d" in t.name]
    assert len(conv_a) == len(conv_b) == 1
    assert conv_a[0].key == conv_b[0].key  # different weights, same workload
    assert {t.key for t in ta} != {t.key for t in tb}


def test_task_weights_count_repeated_blocks(x86):
    net = load_network("builtin:mobilenet_v2_0.5")
    tasks = extract_tasks(net.mod, x86.target())
    assert len(tasks) == len({t.key for t in tasks})
    assert max(t.weight for t in tasks) > 1
    assert sum("conv2d" in t.name for t in tasks) >= 15
