"""The training examples run, their loss falls, and the saved weights reload to the same model (small settings)."""
import importlib.util
import os
import tempfile

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_sine(tmp_path, capsys):
    result = load_example("train_sine").main(["--epochs", "6", "--out", str(tmp_path / "sine.safetensors")])
    assert result["best"] < 0.2 * result["first"]
    assert result["reloaded"] == pytest.approx(result["best"], rel=1e-6)
    assert "val mse" in capsys.readouterr().out


def test_train_charlm(tmp_path, capsys):
    result = load_example("train_charlm").main(["--steps", "60", "--hidden", "64", "--layers", "1",
                                                "--out", str(tmp_path / "charlm.safetensors")])
    assert result["last"] < result["first"] - 0.5          # nats per character
    assert result["after"] == pytest.approx(result["before"], rel=1e-6)
    assert "sample:" in capsys.readouterr().out


@pytest.mark.parametrize("name,options", [("train_sine", ["--epochs", "1"]),
                                          ("train_charlm", ["--steps", "2", "--hidden", "16", "--layers", "1"])])
def test_examples_write_nothing_into_the_working_directory(name, options, tmp_path, monkeypatch, capsys):
    workdir, tempdir = tmp_path / "work", tmp_path / "temp"
    workdir.mkdir(), tempdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(tempfile, "tempdir", str(tempdir))
    load_example(name).main(options)          # no --out: the weights go to a new temporary directory
    assert list(workdir.iterdir()) == []
    saved = list(tempdir.glob("fastrnn-example-*/*.safetensors"))
    assert len(saved) == 1 and f"saved to {saved[0]}" in capsys.readouterr().out
