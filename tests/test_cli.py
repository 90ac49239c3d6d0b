"""The CLI as a user meets it: real processes, exit codes, one-line errors, no half-written output."""

import json
import subprocess
import sys

import pytest

from conftest import make_onnx, make_onnx_det


def nacos(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nacos", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_targets_lists_boards_with_their_tvm_target():
    res = nacos("targets", "--json")
    assert res.returncode == 0
    boards = {b["name"]: b for b in json.loads(res.stdout)}
    assert boards["rpi4"]["tvm_target"]["mcpu"] == "cortex-a72"
    assert boards["x86"]["runs_locally"] is True


@pytest.mark.parametrize("case, pattern", [
    ("corrupt-onnx", "is not a valid ONNX model"),
    ("unknown-target", "unknown target 'pi9'"),
    ("unsupported-onnx-op", "not supported for frontend ONNX: Det"),
    ("unsupported-torch-op", "does not support: special_bessel_j0"),
    ("missing-input-shape", "--input-shape is required"),
    ("dynamic-onnx", "dynamic shape"),
    ("board-without-rpc", "cannot be measured on this machine"),
    ("negative-trials", "--trials must be 0 or more"),
    ("zero-minutes", "--minutes must be more than 0"),
    ("board-prepack-not-bool", "field 'weight_prepack' has the wrong type (str)"),
    ("board-not-utf8", "cafe.toml: not UTF-8 text"),
    ("board-named-otherwise", "field 'name' is 'fast' but the file is named 'slow'"),
    ("model-function-raises", "failed: RuntimeError: no weights file"),
])
def test_bad_input_exits_nonzero_with_one_line(tmp_path, models_py, case, pattern):
    out = tmp_path / "out"
    args = {
        "corrupt-onnx": lambda: [str(_corrupt(tmp_path)), "--target", "x86"],
        "unknown-target": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--target", "pi9"],
        "unsupported-onnx-op": lambda: [str(make_onnx_det(tmp_path / "det.onnx"))],
        "unsupported-torch-op": lambda: [f"{models_py}:build_unsupported", "--input-shape", "1,4"],
        "missing-input-shape": lambda: [f"{models_py}:build_net"],
        "dynamic-onnx": lambda: [str(make_onnx(tmp_path / "d.onnx", dynamic=True))],
        "board-without-rpc": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--target", "rpi4"],
        "negative-trials": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--trials", "-3"],
        "zero-minutes": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--minutes", "0"],
        "board-prepack-not-bool": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--target",
                                           _board(tmp_path / "p.toml", (BOARD.format(name="p").replace(
                                               "[tvm_target]", 'weight_prepack = "yes"\n[tvm_target]')).encode())],
        "board-not-utf8": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--target",
                                   _board(tmp_path / "cafe.toml", BOARD.format(name="cafe").encode() + b"# caf\xe9\n")],
        "board-named-otherwise": lambda: [str(make_onnx(tmp_path / "m.onnx")), "--target",
                                          _board(tmp_path / "slow.toml", BOARD.format(name="fast").encode())],
        "model-function-raises": lambda: [_failing_model(tmp_path), "--input-shape", "1,4"],
    }[case]()
    res = nacos("tune", *args, "--out", str(out), "--quiet")
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nacos: error: "), res.stderr
    assert pattern in lines[0]
    assert not out.exists()


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x0a\x05hello this is not an onnx protobuf")
    return path


BOARD = 'name = "{name}"\ndescription = "test"\narch = "x86_64"\nthreads = 1\n[tvm_target]\nkind = "llvm"\n'


def _board(path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


def _failing_model(tmp_path) -> str:
    path = tmp_path / "failing.py"
    path.write_text("def build():\n    raise RuntimeError('no weights file')\n")
    return f"{path}:build"


def test_run_on_a_folder_that_is_no_artifact(tmp_path):
    res = nacos("run", str(tmp_path))
    assert res.returncode == 2 and "is not a NACOS artifact" in res.stderr
