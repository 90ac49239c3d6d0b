import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TVM_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def user_home(tmp_path_factory) -> Path:
    """The user store ($NACOS_HOME) of the session: tests never write the user's real one, nor the
    checkout (whose schedules/ is the shipped store, read under it)."""
    folder = tmp_path_factory.mktemp("nacos-home")
    os.environ["NACOS_HOME"] = str(folder)
    os.environ.pop("NACOS_SCHEDULES", None)
    return folder


@pytest.fixture(scope="session", autouse=True)
def task_cache_dir(tmp_path_factory) -> Path:
    """Lowered network parts are cached for the session only, never in the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("nacos-cache")
    os.environ["NACOS_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def models_py() -> Path:
    return TESTS / "models.py"


def make_onnx(path: Path, op: str = "Relu", dynamic: bool = False, extra_nodes=()) -> Path:
    """A small real ONNX graph built with onnx.helper: Conv (with initializer weights) -> op."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    batch = "N" if dynamic else 1
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 8, 8])
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node(op, ["c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def make_onnx_det(path: Path) -> Path:
    """A valid ONNX graph using Det, an operator TVM's ONNX importer does not implement."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [])
    graph = helper.make_graph([helper.make_node("Det", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tuned_smallnet(tmp_path_factory, models_py):
    """One real tune of SmallNet (4 tasks, 32 trials) into a fresh record store: (root, network,
    summary), the run folder in root / "run", the store in root / "schedules".

    Shared, as the tune takes 20 s or more: test_tune.py asserts on it, test_export.py exports a
    copy of it. Nothing writes into it (test_tune's second tune asserts that it does not).
    """
    from nacos.board import load_board
    from nacos.network import load_network
    from nacos.pipeline import tune_network
    from test_tune import FAST, SHAPE

    root = tmp_path_factory.mktemp("tuned")
    net = load_network(f"{models_py}:build_net", SHAPE)
    summary = tune_network(net, load_board("x86"), root / "run", 32, schedules=root / "schedules", repeat=10,
                           progress=False, settings=FAST)
    return root, net, summary


@pytest.fixture(scope="session")
def best_records_store(tmp_path_factory) -> Path:
    """The shipped x86 store cut to each workload's fastest record, with its latency model and data.

    Searches that really tune and measure need a store that knows most of a network's tasks
    (as the shipped one does); with one record per workload TVM decodes it in seconds, not 40.
    Record lines are copied unchanged, so indices and TVM's format stay as shipped.
    """
    import shutil

    from nacos.homes import SHIPPED_SCHEDULES
    from nacos.records import RECORD_FILE, WORKLOAD_FILE, mean_seconds

    shipped = SHIPPED_SCHEDULES / "x86"
    root = tmp_path_factory.mktemp("best-records")
    folder = root / "x86"
    folder.mkdir()
    shutil.copy(shipped / WORKLOAD_FILE, folder / WORKLOAD_FILE)
    best: dict[int, tuple[float, str]] = {}
    with open(shipped / RECORD_FILE) as f:
        for line in f:
            if not line.strip():
                continue
            index, (_, run_secs, *_rest) = json.loads(line)
            secs = mean_seconds(run_secs)
            if secs is not None and (index not in best or secs < best[index][0]):
                best[index] = (secs, line if line.endswith("\n") else line + "\n")
    (folder / RECORD_FILE).write_text("".join(line for _, line in best.values()))
    shutil.copy(shipped / "latency_mbconv.jsonl", folder / "latency_mbconv.jsonl")
    shutil.copytree(shipped / "latency_model", folder / "latency_model")
    return root


@pytest.fixture()
def search_schedules(best_records_store, tmp_path) -> Path:
    """A test's own copy of `best_records_store` (searches append to it)."""
    import shutil

    copy = tmp_path / "schedules"
    shutil.copytree(best_records_store, copy)
    return copy
