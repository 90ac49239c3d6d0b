"""Tuning and end-to-end timing through a real TVM RPC tracker and server on loopback."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nacos import compiler, remote
from nacos.board import load_board
from nacos.errors import NacosError
from nacos.network import load_network
from nacos.records import RECORD_FILE, RecordStore
from nacos.tasks import extract_tasks

KEY = "nacos-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    # own process group: the server forks a child per session, teardown ends them all
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
    else:  # the leader is gone; a forked session child may not be
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    """A tracker and one server registered under KEY, both on 127.0.0.1; yields (host, port, key)."""
    logs = tmp_path_factory.mktemp("rpc_logs")
    port, server_port = free_port(), free_port()
    procs = [_start(["tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                     "--port-end", str(port + 1), "--silent"], logs / "tracker.log")]
    try:
        rpc = ("127.0.0.1", port, KEY)
        deadline = time.monotonic() + 60
        server_started = False
        while True:
            assert procs[0].poll() is None, (logs / "tracker.log").read_text()
            try:
                if not server_started:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    procs.append(_start(["tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(server_port),
                                         "--port-end", str(server_port + 1), "--tracker", f"127.0.0.1:{port}",
                                         "--key", KEY], logs / "server.log"))
                    server_started = True
                if remote.devices(rpc, timeout=2)["free"] >= 1:
                    break
            except (OSError, NacosError):
                pass
            if server_started:
                assert procs[1].poll() is None, (logs / "server.log").read_text()
            assert time.monotonic() < deadline, "the RPC server did not register with the tracker in 60 s"
            time.sleep(0.5)
        yield rpc
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _nacos(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nacos.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_tune_through_rpc_records_checks_and_times_remotely(tracker, tmp_path):
    host, port, key = tracker
    x86 = load_board("x86")
    net = load_network("builtin:tiny-cnn", [])
    tasks = extract_tasks(net.mod, x86.target())
    res = _nacos("tune", "builtin:tiny-cnn", "--target", "x86", "--trials", "24",
                 "--schedules", str(tmp_path / "sched"), "--out", str(tmp_path / "run"),
                 "--rpc-tracker", f"{host}:{port}", "--rpc-key", key, "--repeat", "30", "--json", "--quiet")
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)
    # records through the RPC runner: every task has one, within the budget
    records = (tmp_path / "sched" / "x86" / RECORD_FILE).read_text().splitlines()
    assert summary["tasks"] == len(tasks) and summary["tasks_without_records"] == 0
    assert len(tasks) <= len(records) <= 24 + len(tasks)
    assert summary["trials_spent"] <= 24 + len(tasks)  # the last round may overshoot by a batch
    store = RecordStore("x86", tmp_path / "sched")
    assert all(store.count(t) >= 1 for t in tasks)
    # checked and timed on the remote device
    assert summary["check"]["ok"]
    latency = summary["latency"]
    assert latency["measured_on"] == f"RPC tracker {host}:{port} (key '{key}')"
    # the same build timed here agrees within the noise of a loaded 2-core box
    vm = compiler.load_vm(compiler.build(net.mod, x86, store))
    local = compiler.time_ms(vm, net.sample_inputs(), repeat=30)["median_ms"]
    assert 0.5 < latency["median_ms"] / local < 2.0, (latency, local)


def test_remote_measure_matches_reference_and_local_time(tracker):
    """The remote path alone, on an untuned build (seconds, not minutes)."""
    from nacos.pipeline import snapshot

    x86 = load_board("x86")
    saved = snapshot(load_network("builtin:tiny-cnn", []))
    executable = compiler.build(saved.mod, x86, None)
    measured = remote.measure(executable, x86, tracker, saved.ref_inputs, saved.ref_outputs, repeat=20)
    assert measured.check.ok and measured.check.max_abs_error < 1e-5
    local = compiler.time_ms(compiler.load_vm(executable), saved.ref_inputs, repeat=20)["median_ms"]
    assert 0.5 < measured.latency["median_ms"] / local < 2.0, (measured.latency, local)


def test_busy_device_and_unknown_key_fail_with_one_line(tracker):
    host, port, key = tracker
    with pytest.raises(NacosError, match="no device is registered under key 'nobody'"):
        remote.request((host, port, "nobody"), wait=2)
    session = remote.request(tracker)
    try:
        start = time.monotonic()
        with pytest.raises(NacosError, match=f"{host}:{port}.*'{key}'.*no free device within 2 s"):
            remote.request(tracker, wait=2)
        assert time.monotonic() - start < 10
    finally:
        del session


def test_unreachable_tracker_is_one_line_exit_2(tmp_path):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    res = _nacos("tune", "builtin:tiny-cnn", "--target", "x86", "--trials", "8", "--out", str(tmp_path / "run"),
                 "--schedules", str(tmp_path / "sched"), "--rpc-tracker", f"127.0.0.1:{port}",
                 "--rpc-key", KEY, "--quiet", timeout=60)
    assert time.monotonic() - start < 30
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "cannot reach the RPC tracker" in lines[0] and f"127.0.0.1:{port}" in lines[0] and KEY in lines[0]
    assert not (tmp_path / "sched").exists()  # nothing tuned
