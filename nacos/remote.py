"""Measure a built network on a board reached through a TVM RPC tracker.

The executable is exported here (cross-linked with the board's compiler when the board is not
this machine's architecture: the board has no compiler), uploaded to the RPC server, loaded
there into a Relax VM on the remote CPU, run on the reference inputs and timed with the remote
time evaluator, so the figures are the board's own.

TVM's client waits without bound in two places: `connect_tracker` retries a refused connection
for 60 s, and a request for a key whose devices are all busy stays queued. Both are bounded
here and end as one NacosError naming the tracker and the key.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import compiler
from .board import Board
from .errors import NacosError
from .measuring import Rpc

CONNECT_TIMEOUT = 10.0  # seconds to reach the tracker and get its answer
DEVICE_TIMEOUT = 60.0  # seconds to wait for a free device of the key
SESSION_TIMEOUT = 600  # the server ends a session older than this (a client that vanished)



@dataclass
class RemoteResult:
    check: compiler.Check
    latency: dict[str, float] | None  # as compiler.time_ms, measured on the device; None if the check failed


def _where(rpc: Rpc) -> str:
    host, port, key = rpc
    return f"RPC tracker {host}:{port} (key '{key}')"


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Sockets created inside get this timeout (TVM's tracker client opens its own, without one)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _tracker(rpc: Rpc, timeout: float):
    """A tracker session whose socket gives up after `timeout` s; NacosError if unreachable."""
    from tvm import rpc as tvm_rpc

    host, port, key = rpc
    try:  # a quick probe first: TVM's own connect retries a refused connection for 60 s
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise NacosError(f"cannot reach the {_where(rpc)}: {reason}; start it (python -m tvm.exec.rpc_tracker "
                         f"--host HOST --port {port}) or fix --rpc-tracker") from None
    try:
        with _socket_timeout(timeout):
            return tvm_rpc.connect_tracker(host, port)
    except (OSError, RuntimeError) as exc:
        raise NacosError(f"{host}:{port} does not answer as a TVM RPC tracker ({exc}); "
                         f"check --rpc-tracker") from None


def devices(rpc: Rpc, timeout: float = CONNECT_TIMEOUT) -> dict[str, int]:
    """{"total": servers registered under the key, "free": of those not in a session}."""
    tracker = _tracker(rpc, timeout)
    try:
        with _socket_timeout(timeout):
            summary = tracker.summary()
    except (OSError, RuntimeError) as exc:
        raise NacosError(f"the {_where(rpc)} did not answer a summary request ({exc})") from None
    finally:
        tracker.close()
    key = rpc[2]
    total = sum(1 for s in summary.get("server_info", []) if s.get("key", "").split(":", 1)[-1] == key)
    free = summary.get("queue_info", {}).get(key, {}).get("free", 0)
    return {"total": total, "free": free}


def check_tracker(rpc: Rpc, timeout: float = CONNECT_TIMEOUT) -> dict[str, int]:
    """Fail early (before any tuning) when the tracker is unreachable or knows no device of the key."""
    found = devices(rpc, timeout)
    if found["total"] == 0:
        raise NacosError(f"no device is registered under key '{rpc[2]}' at the {_where(rpc)}; on the board run "
                         f"python -m tvm.exec.rpc_server --tracker {rpc[0]}:{rpc[1]} --key {rpc[2]}")
    return found


def request(rpc: Rpc, wait: float = DEVICE_TIMEOUT, session_timeout: int = SESSION_TIMEOUT):
    """An RPC session on a free device of the key, waiting at most `wait` seconds for one."""
    check_tracker(rpc)
    host, port, key = rpc
    tracker = _tracker(rpc, wait)
    try:
        with _socket_timeout(wait):
            # one try: a retry would reconnect and queue again, beyond the time limit
            return tracker.request(key, priority=1, session_timeout=session_timeout, max_retry=1)
    except (OSError, RuntimeError) as exc:
        timed_out = "timed out" in str(exc) or isinstance(exc, TimeoutError)
        why = f"no free device within {wait:.0f} s" if timed_out else f"{exc}".splitlines()[0]
        raise NacosError(f"cannot get a device from the {_where(rpc)}: {why}") from None
    finally:
        tracker.close()


def _outputs(value) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _outputs(v)]
    return [value.numpy()]


def export(executable, board: Board, path: Path) -> Path:
    """The executable as a shared library the board can load (cross-linked for a foreign arch)."""
    import shutil

    from tvm.support import cc

    fcompile = None
    if not board.runs_locally:
        if shutil.which(board.cross_compiler) is None:
            raise NacosError(f"cross compiler '{board.cross_compiler}' for {board.name} is not installed "
                             f"(Debian: apt-get install g++-{board.cross_compiler.rsplit('-g++', 1)[0]})")
        fcompile = cc.cross_compiler(board.cross_compiler)
    with compiler.native_stderr_filtered():
        executable.export_library(str(path), fcompile=fcompile)
    return path


def measure(executable, board: Board, rpc: Rpc, inputs: list[np.ndarray], reference: list[np.ndarray],
            repeat: int = 50, min_repeat_ms: int = 50, tolerance: float = compiler.DEFAULT_TOLERANCE) -> RemoteResult:
    """Run the network on the remote device, compare with the reference, time it there."""
    import tvm
    from tvm import relax

    with tempfile.TemporaryDirectory(prefix="nacos-rpc-") as tmp:
        lib = export(executable, board, Path(tmp) / f"nacos_{int(time.time() * 1e3)}.so")
        session = request(rpc)
        try:
            session.upload(str(lib))
            remote_lib = session.load_module(lib.name)
            dev = session.cpu()
            vm = relax.VirtualMachine(remote_lib, dev)
            # set_input + invoke_stateful: works over RPC whatever main returns (tuples included)
            vm.set_input("main", *[tvm.runtime.tensor(x, device=dev) for x in inputs])
            vm.invoke_stateful("main")
            check = compiler.compare(_outputs(vm.get_outputs("main")), reference, tolerance)
            latency = None
            if check.ok:
                timer = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=repeat,
                                          min_repeat_ms=min_repeat_ms)
                samples = np.asarray(timer("main").results) * 1e3
                latency = {"median_ms": float(np.median(samples)), "min_ms": float(samples.min()),
                           "max_ms": float(samples.max()), "repeat": repeat, "measured_on": _where(rpc)}
            with contextlib.suppress(Exception):
                session.remove(lib.name)
        except (RuntimeError, ValueError, OSError) as exc:  # what TVM FFI and RPC errors surface as
            raise NacosError(f"running the network on the device of the {_where(rpc)} failed: "
                             f"{str(exc).strip().splitlines()[-1]}") from None
        finally:
            # Drop every handle on the session now, not whenever the GC runs: until then the
            # server counts as busy and the tracker gives the device to nobody else.
            vm = remote_lib = dev = timer = session = None
            gc.collect()
    return RemoteResult(check=check, latency=latency)
