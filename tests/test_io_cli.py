"""`fastrnn inspect FILE` and `fastrnn convert FILE OUT`: the cli functions directly, and `python -m fastrnn`
in a subprocess (run outside the repository, so the installed package is the one imported)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn.io import cli


@pytest.fixture
def checkpoint(tmp_path):
    """A safetensors file: a 2-layer bidirectional LSTM, a GRU cell (cell names) and a linear head."""
    sd = {f"encoder.lstm.{k}": v for k, v in fastrnn.LSTM(3, 4, num_layers=2, bidirectional=True,
                                                          seed=0).state_dict().items()}
    sd.update({f"cell.{k[:-3]}": v for k, v in fastrnn.GRU(2, 5, seed=1).state_dict().items()})
    sd["head.weight"] = np.zeros((2, 8), np.float32)
    path = tmp_path / "model.safetensors"
    fastrnn.save(path, sd)
    return path, sd


def test_inspect_lists_tensors_and_layers(checkpoint, capsys):
    path, sd = checkpoint
    assert cli.inspect_main(str(path)) == 0
    out = capsys.readouterr().out
    assert f"{path}: safetensors, {len(sd)} tensors" in out
    assert "encoder.lstm.weight_ih_l0_reverse" in out and "float32  (16, 3)" in out
    assert "encoder.lstm.  LSTM(3, 4, num_layers=2, bidirectional=True)\n" in out   # defaults left out
    assert "cell.  GRU(2, 5) (GRUCell)" in out
    assert "note: linear_before_reset is not stored" in out
    assert (f"fastrnn.LSTM.from_state_dict(\n          fastrnn.load({str(path)!r}), "
            f"prefix='encoder.lstm.')") in out
    assert max(len(line) for line in out.splitlines() if str(path) not in line) <= 80


def test_inspect_of_a_torch_checkpoint_shows_other_entries(tmp_path, capsys):
    from conftest import require_torch
    torch = require_torch()
    module = torch.nn.GRU(3, 4)
    torch.save({"model": module.state_dict(), "epoch": 5, "lr": 0.01}, tmp_path / "ckpt.pt")
    assert cli.inspect_main(str(tmp_path / "ckpt.pt")) == 0
    out = capsys.readouterr().out
    assert "torch.save (zip), 4 tensors" in out
    assert "  epoch = 5" in out and "  lr = 0.01" in out
    assert "model.  GRU(3, 4)\n" in out


def test_inspect_without_recurrent_layers(tmp_path, capsys):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    assert cli.inspect_main(str(tmp_path / "plain.npz")) == 0
    assert "recurrent layers: none found" in capsys.readouterr().out


def test_inspect_reports_a_broken_layer(tmp_path, capsys):
    sd = fastrnn.LSTM(3, 4, num_layers=3, seed=0).state_dict()
    fastrnn.save(tmp_path / "broken.safetensors", {k: v for k, v in sd.items() if "_l1" not in k})
    assert cli.inspect_main(str(tmp_path / "broken.safetensors")) == 0
    assert "(top level)  not loadable: missing layer 1" in capsys.readouterr().out


@pytest.mark.parametrize("content, code, message", [
    (b"garbage bytes", 2, "fastrnn: error: .*not a weights file"),
    (None, 2, "fastrnn: error: .*No such file"),
])
def test_inspect_errors(tmp_path, capsys, content, code, message):
    path = tmp_path / "file.pt"
    if content is not None:
        path.write_bytes(content)
    assert cli.inspect_main(str(path)) == code
    import re
    assert re.search(message, capsys.readouterr().err)


def test_unsafe_file_exit_code(tmp_path, capsys):
    import zipfile
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\n(X\x04\x00\x00\x00truetR.")
    assert cli.inspect_main(str(tmp_path / "evil.pt")) == 2
    assert "fastrnn: refused (unsafe file): " in capsys.readouterr().err
    assert cli.convert_main(str(tmp_path / "evil.pt"), str(tmp_path / "out.safetensors")) == 2
    assert not (tmp_path / "out.safetensors").exists()


def test_internal_errors_exit_1(tmp_path, capsys, monkeypatch):
    import fastrnn.io.load as load_module

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(load_module, "load_with_format", broken)
    np.savez(tmp_path / "a.npz", a=np.zeros(1))
    assert cli.inspect_main(str(tmp_path / "a.npz")) == 1
    assert "internal error" in capsys.readouterr().err


@pytest.mark.parametrize("out_name", ["out.safetensors", "out.npz"])
def test_convert(tmp_path, capsys, out_name):
    from conftest import require_torch
    torch = require_torch()
    module = torch.nn.LSTM(3, 4, num_layers=2)
    torch.save({"model": module.state_dict(), "epoch": 5, "h": torch.randn(2).to(torch.bfloat16)},
               tmp_path / "ckpt.pt")
    assert cli.convert_main(str(tmp_path / "ckpt.pt"), str(tmp_path / out_name)) == 0
    captured = capsys.readouterr()
    assert "left out 1 entries that are not tensors: epoch" in captured.err
    assert "wrote 9 tensors" in captured.out
    converted = fastrnn.load(tmp_path / out_name)
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(converted[f"model.{key}"], value.numpy())
    assert converted["h"].dtype == np.float32
    layer = fastrnn.LSTM.from_state_dict(converted, prefix="model.")
    assert layer.num_layers == 2


def test_convert_of_a_file_without_tensors(tmp_path, capsys):
    fastrnn.save(tmp_path / "empty.safetensors", {})
    assert cli.convert_main(str(tmp_path / "empty.safetensors"), str(tmp_path / "o.safetensors")) == 2
    assert "holds no tensors" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink to input", "hard link",
                                 "input is a symlink to the output"])
def test_convert_refuses_to_replace_its_input(tmp_path, capsys, monkeypatch, how):
    source = tmp_path / "model.pt"
    fastrnn.save(source, {"w": np.arange(3, dtype=np.float32)})
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    src, dst = str(source), str(source)
    if how == "relative path":
        (tmp_path / "sub").mkdir()
        dst = os.path.join("sub", "..", "model.pt")
    elif how == "symlink to input":
        os.symlink(source, tmp_path / "link.pt")
        dst = str(tmp_path / "link.pt")
    elif how == "hard link":
        os.link(source, tmp_path / "hard.pt")
        dst = str(tmp_path / "hard.pt")
    elif how == "input is a symlink to the output":
        os.symlink(source, tmp_path / "link.pt")
        src = str(tmp_path / "link.pt")
    assert cli.convert_main(src, dst) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_convert_beside_its_input_still_works(tmp_path, capsys):
    source = tmp_path / "model.pt"
    fastrnn.save(source, {"w": np.arange(3, dtype=np.float32)})
    assert cli.convert_main(str(source), str(tmp_path / "model.npz")) == 0
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "model.npz")["w"], np.arange(3))


def _run(*args, cwd):
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    env = dict(os.environ, PYTHONPATH=package_parent)
    return subprocess.run([sys.executable, "-m", "fastrnn", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_python_m_fastrnn(tmp_path, checkpoint):
    path, sd = checkpoint
    result = _run("inspect", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "encoder.lstm.  LSTM" in result.stdout
    result = _run("convert", path, tmp_path / "copy.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(fastrnn.load(tmp_path / "copy.npz")) == set(sd)
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 100)
    result = _run("inspect", tmp_path / "bad.pt", cwd=tmp_path)
    assert result.returncode == 2 and "not a weights file" in result.stderr and not result.stdout
