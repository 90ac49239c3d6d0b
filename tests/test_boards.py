import pytest

from nacos.board import list_boards, load_board, parse_board
from nacos.errors import NacosError


def test_builtin_boards_load_and_make_tvm_targets():
    boards = {b.name: b for b in list_boards()}
    assert {"x86", "rpi3", "rpi4", "rpi5", "aarch64"} <= set(boards)
    x86 = boards["x86"]
    assert x86.runs_locally and x86.tvm_target["mcpu"] not in ("host", "", "generic")
    assert x86.tvm_target["num-cores"] == x86.threads >= 1
    assert boards["rpi3"].tvm_target["mfloat-abi"] == "hard" and boards["rpi3"].arch == "armv7"
    for b in boards.values():
        target = b.target()
        assert target.kind.name == "llvm"
        if b.arch == "aarch64":
            assert "aarch64" in str(target.attrs["mtriple"])


BOARD = '''name = "myboard"
description = "test"
arch = "aarch64"
threads = 4
cross_compiler = "aarch64-linux-gnu-g++"
[tvm_target]
kind = "llvm"
mtriple = "aarch64-linux-gnu"
mcpu = "cortex-a55"
'''


def test_user_board_folder(tmp_path, monkeypatch):
    (tmp_path / "myboard.toml").write_text(BOARD)
    monkeypatch.setenv("NACOS_TARGETS", str(tmp_path))
    board = load_board("myboard")
    assert board.tvm_target["mcpu"] == "cortex-a55" and board.tvm_target["num-cores"] == 4
    assert "myboard" in {b.name for b in list_boards()}
    assert board.weight_prepack is False and load_board("x86").weight_prepack is False  # unless a board says so
    (tmp_path / "myboard.toml").write_text(BOARD.replace("threads = 4", "threads = 4\nweight_prepack = true"))
    assert load_board("myboard").weight_prepack is True


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace('arch = "aarch64"', 'arch = "arm64"'), "'arch'"),
    (lambda t: t.replace('threads = 4', 'threads = 0'), "'threads'"),
    (lambda t: t.replace('description = "test"\n', ''), "'description'"),
    (lambda t: t.replace('threads = 4', 'threads = 4\nspeed = 3'), "'speed'"),
    (lambda t: t.replace('cross_compiler = "aarch64-linux-gnu-g++"\n', ''), "'cross_compiler'"),
    (lambda t: t.replace('mtriple = "aarch64-linux-gnu"\n', ''), "'tvm_target.mtriple'"),
    (lambda t: t.replace('threads = 4', 'threads = [4'), "not valid TOML"),
    (lambda t: t.replace('threads = 4', 'threads = 4\nweight_prepack = 1'), "'weight_prepack'"),
    (lambda t: t.replace('name = "myboard"', 'name = "yourboard"'), "'name' is 'yourboard'"),
])
def test_bad_board_file_names_the_field(tmp_path, edit, field):
    path = tmp_path / "myboard.toml"
    path.write_text(edit(BOARD))
    with pytest.raises(NacosError) as err:
        parse_board(path)
    assert field in str(err.value) and str(path) in str(err.value)


def test_unknown_target_lists_known_ones():
    with pytest.raises(NacosError, match="unknown target 'pi9'.*rpi4"):
        load_board("pi9")


def test_board_file_given_by_path_must_be_named_after_its_name(tmp_path):
    """`--target NAME` finds a file by its file name, the record store by `name`: the two must agree."""
    path = tmp_path / "other.toml"
    path.write_text(BOARD)
    with pytest.raises(NacosError) as err:
        load_board(str(path))
    assert "field 'name' is 'myboard' but the file is named 'other'" in str(err.value) and str(path) in str(err.value)


def test_board_file_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "myboard.toml"
    path.write_bytes(BOARD.replace('"test"', '"caf\xe9"').encode("latin-1"))
    with pytest.raises(NacosError, match="not UTF-8 text") as err:
        load_board(str(path))
    assert str(path) in str(err.value)
