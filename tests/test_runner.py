"""The C++ runner (CMakeLists.txt, runner/): built natively against the wheel's TVM runtime, and
cross-built for aarch64 with the runtime compiled from the wheel's sources, run under qemu.

Build folders live in build/ (ignored by git) and are reused between runs: the first aarch64
build compiles the TVM runtime and takes minutes, later ones only relink.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nacos.board import load_board
from nacos.network import load_network
from nacos.pipeline import export_run, snapshot
from nacos import rundir

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
NICE = ["nice", "-n", "19"] if shutil.which("nice") else []
JOBS = os.environ.get("NACOS_BUILD_JOBS", "2")


def cmake_build(folder: Path, *configure_args: str, timeout: int = 600) -> Path:
    """Configure (once) and build nacos-run in `folder`; returns the executable."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed (bash tools/install.sh installs it)")
    if not (folder / "CMakeCache.txt").exists():
        subprocess.run([*NICE, "cmake", "-S", str(ROOT), "-B", str(folder), *configure_args],
                       check=True, capture_output=True, text=True, timeout=120)
    proc = subprocess.run([*NICE, "cmake", "--build", str(folder), "-j", JOBS],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    exe = folder / "nacos-run"
    assert exe.exists()
    return exe


def run_runner(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TVM_NUM_THREADS"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    """The built-in tiny CNN imported into a run folder (no tuning: export builds it untuned)."""
    root = tmp_path_factory.mktemp("runner")
    net = load_network("builtin:tiny-cnn", None)
    rundir.save_network(root / "run", snapshot(net), "x86")
    return root


@pytest.fixture(scope="module")
def native_runner() -> Path:
    return cmake_build(BUILD / "runner", "-DNACOS_TVM_RUNTIME=wheel")


@pytest.fixture(scope="module")
def x86_artifact(saved_run) -> Path:
    export_run(saved_run / "run", load_board("x86"), saved_run / "art-x86", schedules=saved_run / "schedules")
    return saved_run / "art-x86"


def test_native_runner_matches_reference_and_times(native_runner, x86_artifact):
    proc = run_runner([str(native_runner), str(x86_artifact), "--repeat", "20", "--warmup", "2"])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["runner"] == "nacos-run" and result["board"] == "x86"
    assert 0 <= result["max_abs_error"] < 1e-4 and result["relative_error"] <= result["tolerance"] == 1e-4
    assert 0 < result["min_ms"] <= result["median_ms"] <= result["max_ms"] and result["repeat"] == 20
    manifest = json.loads((x86_artifact / "manifest.json").read_text())
    assert result["sha256_checked"] is True and result["threads"] == manifest["board"]["threads"]


def test_native_runner_saves_outputs_equal_to_reference(native_runner, x86_artifact, tmp_path):
    proc = run_runner([str(native_runner), str(x86_artifact), "--repeat", "1", "--save-outputs", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    ref = np.load(x86_artifact / "output_0.npy")
    out = np.load(tmp_path / "output_0.npy")
    assert out.shape == ref.shape and out.dtype == ref.dtype and np.abs(out - ref).max() < 1e-4 * np.abs(ref).max()


def _copy(art: Path, dest: Path) -> Path:
    shutil.copytree(art, dest)
    return dest


def test_native_runner_rejects_bad_artifacts(native_runner, x86_artifact, tmp_path):
    def fails(args, status, message):
        proc = run_runner([str(native_runner), *map(str, args)])
        assert proc.returncode == status, (proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nacos-run: error: ") and message in lines[0], lines
        return proc

    # A corrupted reference output: the run completes, the JSON says so, the exit status is 1.
    bad = _copy(x86_artifact, tmp_path / "bad-ref")
    ref = np.load(bad / "output_0.npy")
    np.save(bad / "output_0.npy", ref + 0.1 * np.abs(ref).max())
    proc = fails([bad, "--repeat", "1"], 1, "output differs from the reference")
    assert json.loads(proc.stdout)["ok"] is False
    # ... but a loose enough tolerance accepts it.
    assert run_runner([str(native_runner), str(bad), "--repeat", "1", "--tolerance", "0.5"]).returncode == 0

    fails([tmp_path / "absent"], 2, "does not exist")
    fails([tmp_path], 2, "no manifest.json")
    tampered = _copy(x86_artifact, tmp_path / "tampered")
    with open(tampered / "model.so", "ab") as f:
        f.write(b"\0")
    fails([tampered], 2, "sha256")
    shape = _copy(x86_artifact, tmp_path / "shape")
    np.save(shape / "input_0.npy", np.zeros((1, 1, 8, 8), np.float32))
    fails([shape], 2, "has shape (1, 1, 8, 8) but the manifest's input 0 has (1, 1, 28, 28)")
    truncated = _copy(x86_artifact, tmp_path / "truncated")
    (truncated / "input_0.npy").write_bytes((truncated / "input_0.npy").read_bytes()[:200])
    fails([truncated], 2, "truncated data")
    fails([x86_artifact, "--repeat", "0"], 2, "--repeat needs an integer >= 1")
    foreign = _copy(x86_artifact, tmp_path / "foreign")
    manifest = json.loads((foreign / "manifest.json").read_text())
    manifest["library"]["elf_machine"] = "aarch64"
    (foreign / "manifest.json").write_text(json.dumps(manifest))
    fails([foreign], 2, "is built for aarch64 but this nacos-run for x86_64")


def test_native_runner_agrees_with_nacos_run(native_runner, x86_artifact, capsys):
    """Same artifact, same outputs; latencies of the same order (both time the whole network)."""
    from nacos.cli import main

    assert main(["run", str(x86_artifact), "--repeat", "20"]) == 0
    py = json.loads(capsys.readouterr().out)
    cpp = json.loads(run_runner([str(native_runner), str(x86_artifact), "--repeat", "20"]).stdout)
    assert cpp["max_abs_error"] == pytest.approx(py["max_abs_error"], rel=1e-3, abs=1e-9)
    assert 0.2 < cpp["median_ms"] / py["median_ms"] < 5


# ---- aarch64: cross-built runner + runtime from the wheel's sources, run under qemu ----------------

CROSS = "aarch64-linux-gnu"
SYSROOT = Path("/usr") / CROSS


def _need_cross_tools(*, qemu: bool):
    for tool in (f"{CROSS}-g++", "cmake", *(["qemu-aarch64"] if qemu else [])):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (bash tools/install.sh installs it)")


def test_aarch64_cross_build_configures_and_compiles_the_runner(tmp_path):
    """Fast check of the cross build: the toolchain file works, the wheel has every runtime source
    the build names, and the runner's own code compiles for aarch64 (the runtime is in the slow test)."""
    _need_cross_tools(qemu=False)
    folder = tmp_path / "cross"
    proc = subprocess.run([*NICE, "cmake", "-S", str(ROOT), "-B", str(folder),
                           f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake' / f'{CROSS}.cmake'}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runtime from source" in proc.stdout
    for obj in ("runner/nacos_run.cc.o", "runner/npy.cc.o"):
        proc = subprocess.run([*NICE, "cmake", "--build", str(folder), "--target", obj],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    objs = list(folder.rglob("nacos_run.cc.o"))
    assert objs and objs[0].read_bytes()[18] == 183  # ELF e_machine EM_AARCH64


@pytest.mark.slow
def test_aarch64_runner_under_qemu_matches_reference(saved_run):
    """The first build compiles the TVM runtime for aarch64 (about 6 minutes on 2 cores, -j2); it is
    kept in build/runner-aarch64 and later runs only rebuild what changed."""
    _need_cross_tools(qemu=True)
    exe = cmake_build(BUILD / "runner-aarch64", f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake' / f'{CROSS}.cmake'}",
                      timeout=3000)
    assert exe.read_bytes()[18] == 183
    art = saved_run / "art-rpi4"
    export_run(saved_run / "run", load_board("rpi4"), art, schedules=saved_run / "schedules")
    proc = run_runner(["qemu-aarch64", "-L", str(SYSROOT), str(exe), str(art), "--repeat", "3", "--warmup", "1"])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["board"] == "rpi4" and result["threads"] == 4
    assert result["max_abs_error"] < 1e-4 and result["median_ms"] > 0  # time under emulation: meaningless
    # A corrupted reference is caught on aarch64 too.
    ref = np.load(art / "output_0.npy")
    np.save(art / "output_0.npy", -ref)
    proc = run_runner(["qemu-aarch64", "-L", str(SYSROOT), str(exe), str(art), "--repeat", "1"])
    assert proc.returncode == 1 and "output differs from the reference" in proc.stderr
