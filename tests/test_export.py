"""Export for x86, aarch64 (RPi 4) and armv7 (RPi 3) from a real tuned run; nacos run checks them."""

import json
import re
import shutil

import numpy as np
import pytest

from nacos import artifact
from nacos.board import load_board
from nacos.cli import main
from nacos.errors import NacosError
from nacos.pipeline import export_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, tuned_smallnet):
    """A copy of the session's tuned SmallNet run and its record store (conftest.py), so that the
    artifacts written beside them stay out of the shared tune."""
    tuned = tuned_smallnet[0]
    root = tmp_path_factory.mktemp("export")
    shutil.copytree(tuned / "run", root / "run")
    shutil.copytree(tuned / "schedules", root / "schedules")
    return root


@pytest.fixture(scope="module")
def exported(run):
    """`exported(board)` exports the run for the board into run / "art-BOARD", once for the module (a
    build takes seconds), and returns what export_run returned; a test that changes an artifact
    changes a copy of it."""
    done = {}

    def export(board: str) -> dict:
        if board not in done:
            done[board] = export_run(run / "run", load_board(board), run / f"art-{board}",
                                     schedules=run / "schedules")
        return done[board]
    return export


def test_x86_artifact_runs_and_matches_reference(run, exported, capsys):
    out = exported("x86")
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
def test_arm_exports_are_cross_linked(run, exported, board, machine, bits, hard_float):
    if shutil.which(load_board(board).cross_compiler) is None:
        pytest.fail(f"{load_board(board).cross_compiler} missing: .ci/run installs Debian's cross compilers")
    out = exported(board)
    info = artifact.read_elf(run / f"art-{board}" / "model.so")
    assert (info.arch, info.bits, info.hard_float) == (machine, bits, hard_float)
    assert out["tasks_with_records"] == 0  # nothing was tuned for the board: said, not hidden
    art = artifact.open_artifact(run / f"art-{board}")
    assert artifact.describe_foreign(art)["elf_machine"] == machine


def test_tampered_or_mislabelled_artifact_is_refused(run, exported):
    exported("rpi4")
    shutil.copytree(run / "art-rpi4", run / "art-t")
    manifest_path = run / "art-t" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["board"]["arch"] = "armv7"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(NacosError, match="built for aarch64"):
        artifact.open_artifact(run / "art-t")
    (run / "art-t" / "model.so").write_bytes(b"\x7fELF broken")
    with pytest.raises(NacosError, match="sha256"):
        artifact.open_artifact(run / "art-t")


def test_existing_artifact_is_not_overwritten_without_force(run, exported):
    exported("rpi3")
    shutil.copytree(run / "art-rpi3", run / "art-f")  # an artifact export_run wrote
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


def _lying_artifacts(run, exported, name):
    """Two x86 artifacts whose manifests state input 0 as [1, 1, 32, 32] (the library takes 16x16):
    one with the exported reference input, one whose input_0.npy was replaced to agree with the lie."""
    exported("x86")
    lie = run / name
    shutil.copytree(run / "art-x86", lie)
    both = run / f"{name}-both"
    shutil.copytree(lie, both)
    for folder in (lie, both):
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["inputs"][0]["shape"] == [1, 1, 16, 16]
        manifest["inputs"][0]["shape"] = [1, 1, 32, 32]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    np.save(both / "input_0.npy", np.zeros((1, 1, 32, 32), np.float32))
    return lie, both


def test_manifest_that_lies_about_the_input_shape_is_refused(run, exported, capsys):
    lie, both = _lying_artifacts(run, exported, "art-lie")
    assert main(["run", str(lie), "--repeat", "2"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip().splitlines() == [
        f"nacos: error: '{lie / 'input_0.npy'}' holds [1, 1, 16, 16] float32 but the manifest states input 0 "
        f"'input' as [1, 1, 32, 32] float32; the manifest does not describe this artifact: export it again"]
    # the reference agrees with the manifest: the library itself, entered with those tensors, refuses them
    assert main(["run", str(both), "--repeat", "2"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1
    assert re.fullmatch(re.escape(f"nacos: error: '{both / 'model.so'}' takes R.Tensor((1, 1, 16, 16)") + r".*"
                        + re.escape(" as input 0, not the [1, 1, 32, 32] float32 its manifest states; the manifest "
                                    "does not describe this library: export the artifact again"), lines[0]), lines[0]


def test_native_runner_refuses_a_lying_manifest(run, exported):
    from test_runner import BUILD, cmake_build, run_runner

    exe = cmake_build(BUILD / "runner", "-DNACOS_TVM_RUNTIME=wheel")
    lie, both = _lying_artifacts(run, exported, "art-lie-native")
    proc = run_runner([str(exe), str(lie), "--repeat", "2"])
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"nacos-run: error: '{lie}/input_0.npy' has shape (1, 1, 16, 16) but the manifest's input 0 has (1, 1, 32, 32)"]
    proc = run_runner([str(exe), str(both), "--repeat", "2"])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == "" and len(lines) == 1
    assert lines[0].startswith(f"nacos-run: error: '{both}/model.so' refused the manifest's inputs (")
    assert "R.Tensor((1, 1, 16, 16)" in lines[0] and lines[0].endswith(
        "; the manifest does not describe this library: export the artifact again")
