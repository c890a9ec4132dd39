"""Paths a user can pass to fastrnn.load, fastrnn.from_onnx and fastrnn.save that are not weights files (each case
failed before its fix):
- a named pipe made load, from_onnx and `fastrnn inspect` block forever, and from_onnx("/dev/zero") read without end (unbounded
  memory): both are now FormatError before anything is opened;
- from_onnx(3) read file descriptor 3 and then closed it, whatever it belonged to: now a TypeError, as load's;
- save("/some/dir", ...) wrote the data to a temporary file in the directory's parent and left it there when
  the final rename failed: now IsADirectoryError before writing, and a failed rename removes the temporary file.
"""
import os

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("reader", [fastrnn.load, fastrnn.from_onnx])
def test_a_named_pipe_is_refused_without_blocking(reader, fifo):
    pytest.importorskip("onnx")
    with pytest.raises(FormatError, match="not a regular file"):
        reader(fifo)


def test_fastrnn_inspect_of_a_named_pipe_is_an_error_not_a_hang(fifo, capsys):
    from fastrnn.io import cli
    assert cli.inspect_main(str(fifo)) == 2
    assert "not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("reader", [fastrnn.load, fastrnn.from_onnx])
def test_an_endless_device_is_refused(reader):
    pytest.importorskip("onnx")
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero on this platform")
    with pytest.raises(FormatError, match="not a regular file"):
        reader("/dev/zero")


def test_from_onnx_of_an_int_does_not_touch_that_file_descriptor(tmp_path):
    pytest.importorskip("onnx")
    with open(tmp_path / "mine.txt", "w+b") as mine:
        with pytest.raises(TypeError):
            fastrnn.from_onnx(mine.fileno())
        mine.write(b"still open")      # raised ValueError/OSError when from_onnx had closed it


def test_save_to_a_directory_writes_nothing_anywhere(tmp_path):
    target = tmp_path / "outer" / "dir"
    target.mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        fastrnn.save(target, {"w": np.ones(3)})
    assert sorted(p.name for p in (tmp_path / "outer").iterdir()) == ["dir"]
    assert list(target.iterdir()) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError("refused by the test")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        fastrnn.save(tmp_path / "w.safetensors", {"w": np.ones(3)})
    assert list(tmp_path.iterdir()) == []
