"""`python -m fastrnn demo` given bad options or a bad --model: a one-line error and exit status 2, never a
traceback (each case printed one before its fix: a negative --seed, an alphabet with repeated characters, weights
of the wrong number of axes, a file holding something other than a state dict)."""
import json

import numpy as np
import pytest

from fastrnn import load, save
from fastrnn.demo import MODEL, main


def _model_file(tmp_path, weights, alphabet):
    path = tmp_path / "m.safetensors"
    save(str(path), weights)
    (tmp_path / "m.json").write_text(json.dumps({"alphabet": alphabet}))
    return str(path)


def test_a_negative_seed_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--seed", "-1", "--length", "1", "--repeat", "1"])
    assert exit_.value.code == 2 and "--seed must be >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("alphabet", ["aab", "", 7])
def test_an_alphabet_that_cannot_be_one_is_a_format_error(tmp_path, capsys, alphabet):
    path = _model_file(tmp_path, load(MODEL), alphabet)
    assert main(["--model", path, "--length", "1", "--repeat", "1"]) == 2
    assert "distinct characters" in capsys.readouterr().err


@pytest.mark.parametrize("key, shape", [("embedding.weight", (5,)), ("head.weight", (2, 3, 4))])
def test_weights_of_the_wrong_shape_are_a_format_error(tmp_path, capsys, key, shape):
    weights = dict(load(MODEL))
    weights[key] = np.zeros(shape, np.float32)
    path = _model_file(tmp_path, weights, json.load(open(MODEL[:-3] + ".json"))["alphabet"])
    assert main(["--model", path, "--length", "1", "--repeat", "1"]) == 2
    assert f"'{key}' has shape {shape}" in capsys.readouterr().err
