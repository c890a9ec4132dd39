"""Destinations of fastrnn.save and `fastrnn convert` (issue 15 defect 13): a path that exists and is not a
regular file (named pipe, character device, directory) is refused before anything is written, and stays what it
was; a symbolic link is written through (its target is replaced, the link kept)."""
import os
import stat

import numpy as np
import pytest

import fastrnn
from fastrnn.io import cli

WEIGHTS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.safetensors"
    fastrnn.save(path, WEIGHTS)
    return path


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_named_pipe_destination_is_refused_and_kept(tmp_path, suffix, source, capsys):
    pipe = tmp_path / ("pipe" + suffix)
    os.mkfifo(pipe)
    with pytest.raises(FileExistsError, match="is a named pipe, not a regular file"):
        fastrnn.save(pipe, WEIGHTS)
    assert cli.convert_main(str(source), str(pipe)) == 2
    assert "is a named pipe, not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert _leftovers(tmp_path) == []


def test_a_character_device_destination_is_refused(source, capsys):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null on this platform")
    assert cli.convert_main(str(source), "/dev/null") == 2
    assert "is a character device, not a regular file" in capsys.readouterr().err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(FileExistsError, match="character device"):
        fastrnn.save("/dev/null", WEIGHTS)


def test_a_symbolic_link_is_written_through(tmp_path):
    target = tmp_path / "real" / "weights.safetensors"
    target.parent.mkdir()
    fastrnn.save(target, {"old": np.zeros(2, np.float32)})
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    fastrnn.save(link, WEIGHTS)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(fastrnn.load(target)["w"], WEIGHTS["w"])
    assert _leftovers(tmp_path) == [] and _leftovers(target.parent) == []


def test_a_dangling_link_creates_its_target(tmp_path):
    target = tmp_path / "new.safetensors"
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    fastrnn.save(link, WEIGHTS)
    assert link.is_symlink()
    np.testing.assert_array_equal(fastrnn.load(target)["w"], WEIGHTS["w"])


def test_a_link_to_a_pipe_or_directory_is_refused(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    (tmp_path / "to_pipe.npz").symlink_to(pipe)
    (tmp_path / "to_dir.npz").symlink_to(tmp_path)
    with pytest.raises(FileExistsError, match="named pipe"):
        fastrnn.save(tmp_path / "to_pipe.npz", WEIGHTS)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        fastrnn.save(tmp_path / "to_dir.npz", WEIGHTS)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and _leftovers(tmp_path) == []
