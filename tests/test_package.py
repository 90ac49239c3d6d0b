"""NACOS as a user gets it: the README's demo leaves a checkout's `git status` as it was, and the
wheel installed into a fresh virtual environment knows its boards and shipped records, tunes,
exports and runs from a folder outside the checkout without writing into its own package."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nacos

CHECKOUT = Path(nacos.__file__).resolve().parent.parent


def _git_status() -> str | None:
    if shutil.which("git") is None or not (CHECKOUT / ".git").exists():
        return None
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=CHECKOUT,
                          capture_output=True, text=True, check=True).stdout


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NACOS_SCHEDULES", "PYTHONPATH")}
    return {**env, "NACOS_HOME": str(home), "TVM_NUM_THREADS": "2"}


def _nacos(command: list[str], cwd: Path, env: dict, python: str = sys.executable) -> subprocess.CompletedProcess:
    done = subprocess.run([python, "-m", "nacos", *command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_demo_writes_to_the_user_store_and_leaves_the_checkout_clean(tmp_path):
    before = _git_status()
    home = tmp_path / "home"
    # the demo on 2 trials and 5 timings: what is checked is where it writes, not how well it tunes
    first = _nacos(["tune", "--demo", "--trials", "2", "--repeat", "5"], tmp_path, _env(home))
    result = json.loads((tmp_path / "runs" / "demo" / "result.json").read_text())
    assert result["check"]["ok"] and result["latency"]["median_ms"] > 0
    user = home / "schedules" / "x86"
    assert Path(result["schedules"]).resolve() == user.resolve()
    lines = (user / "database_tuning_record.json").read_text().splitlines()
    assert result["trials_spent"] > 0 and len(lines) >= result["trials_spent"], first.stdout[-500:]
    if before is not None:
        assert _git_status() == before


def _tree_digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` but Python's bytecode caches, with its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_wheel_in_a_fresh_venv_tunes_exports_and_runs_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(CHECKOUT)], check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("nacos-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the installed dependencies, as a plain path entry: its .pth files (this checkout's editable
    # install among them) are not run, so the venv imports the wheel's nacos, not the checkout's
    (site / "system-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    package = site / "nacos"
    where = subprocess.run([python, "-c", "import nacos; print(nacos.__file__)"], capture_output=True, text=True,
                           check=True, cwd=tmp_path).stdout.strip()
    assert Path(where).resolve().is_relative_to(package.resolve()), where
    assert (package / "data" / "schedules" / "x86" / "database_tuning_record.json").stat().st_size > 1e6
    before = _tree_digest(package)

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = _env(home)
    targets = json.loads(_nacos(["targets", "--json"], work, env, python).stdout)
    assert {"x86", "rpi4", "aarch64"} <= {b["name"] for b in targets}
    _nacos(["tune", "builtin:tiny-cnn", "--target", "x86", "--trials", "2", "--repeat", "5", "--out", "run"],
           work, env, python)  # 2 real trials: that it tunes at all is checked here, not how well
    result = json.loads((work / "run" / "result.json").read_text())
    assert result["check"]["ok"] and result["trials_spent"] > 0
    assert Path(result["schedules"]).resolve() == (home / "schedules" / "x86").resolve()
    _nacos(["export", "run", "--target", "x86", "--out", "artifact"], work, env, python)
    assert (work / "artifact" / "model.so").stat().st_size > 0
    ran = json.loads(_nacos(["run", "artifact", "--repeat", "5"], work, env, python).stdout)
    assert ran["ok"] and ran["median_ms"] > 0
    assert _tree_digest(package) == before
