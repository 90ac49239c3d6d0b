"""Export for x86, aarch64 (RPi 4) and armv7 (RPi 3) from a real tuned run; nacos run checks them."""

import json
import shutil

import pytest

from nacos import artifact
from nacos.board import load_board
from nacos.cli import main
from nacos.errors import NacosError
from nacos.network import load_network
from nacos.pipeline import export_run, tune_network
from test_tune import FAST, SHAPE


@pytest.fixture(scope="module")
def run(tmp_path_factory, models_py):
    root = tmp_path_factory.mktemp("export")
    net = load_network(f"{models_py}:build_net", SHAPE)
    tune_network(net, load_board("x86"), root / "run", 16, schedules=root / "schedules", repeat=5,
                 progress=False, settings=FAST)
    return root


def test_x86_artifact_runs_and_matches_reference(run, capsys):
    out = export_run(run / "run", load_board("x86"), run / "art-x86", schedules=run / "schedules")
    assert out["elf_machine"] == "x86_64" and out["tasks_with_records"] == out["tasks"] == 4
    manifest = json.loads((run / "art-x86" / "manifest.json").read_text())
    assert manifest["inputs"][0]["shape"] == [1, 1, 16, 16] and manifest["outputs"][0]["shape"] == [1, 10]
    assert manifest["library"]["sha256"] == artifact.sha256(run / "art-x86" / "model.so")
    assert manifest["tuning"]["latency_ms"] > 0 and manifest["versions"]["apache-tvm"] == "0.27.0.post1"
    assert main(["run", str(run / "art-x86"), "--repeat", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["max_abs_error"] < 1e-4 and result["median_ms"] > 0


@pytest.mark.parametrize("board, machine, bits, hard_float", [
    ("rpi4", "aarch64", 64, None), ("rpi5", "aarch64", 64, None), ("rpi3", "armv7", 32, True)])
def test_arm_exports_are_cross_linked(run, board, machine, bits, hard_float):
    if shutil.which(load_board(board).cross_compiler) is None:
        pytest.fail(f"{load_board(board).cross_compiler} missing: .ci/run installs Debian's cross compilers")
    out = export_run(run / "run", load_board(board), run / f"art-{board}", schedules=run / "schedules")
    info = artifact.read_elf(run / f"art-{board}" / "model.so")
    assert (info.arch, info.bits, info.hard_float) == (machine, bits, hard_float)
    assert out["tasks_with_records"] == 0  # nothing was tuned for the board: said, not hidden
    art = artifact.open_artifact(run / f"art-{board}")
    assert artifact.describe_foreign(art)["elf_machine"] == machine


def test_tampered_or_mislabelled_artifact_is_refused(run):
    export_run(run / "run", load_board("rpi4"), run / "art-t", schedules=run / "schedules")
    manifest_path = run / "art-t" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["board"]["arch"] = "armv7"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(NacosError, match="built for aarch64"):
        artifact.open_artifact(run / "art-t")
    (run / "art-t" / "model.so").write_bytes(b"\x7fELF broken")
    with pytest.raises(NacosError, match="sha256"):
        artifact.open_artifact(run / "art-t")


def test_existing_artifact_is_not_overwritten_without_force(run):
    export_run(run / "run", load_board("rpi3"), run / "art-f", schedules=run / "schedules")
    with pytest.raises(NacosError, match="--force"):
        export_run(run / "run", load_board("rpi3"), run / "art-f", schedules=run / "schedules")
    export_run(run / "run", load_board("rpi3"), run / "art-f", schedules=run / "schedules", force=True)
    assert not [p for p in run.iterdir() if p.name.startswith(".art-f")]  # no staging left behind


def test_existing_out_is_refused_before_any_build(tmp_path, capsys):
    """Refused at once, not after a minute of building: the run folder is not even read (here it does not exist)."""
    out = tmp_path / "art"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    with pytest.raises(NacosError, match="exists already.*--force"):
        export_run(tmp_path / "no-run", load_board("x86"), out)
    assert main(["export", str(tmp_path / "no-run"), "--target", "x86", "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0] == (f"nacos: error: '{out}' exists already; choose another --out or pass "
                                            f"--force to replace it")
    assert [p.name for p in tmp_path.iterdir()] == ["art"] and (out / "mine.txt").read_text() == "kept"
