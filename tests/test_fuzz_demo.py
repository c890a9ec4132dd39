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


ALPHABET = "abcdefgh "


def _small_model(rng, bias=True, dtype=np.float32):
    """A character LM of the demo's layout, small: V = 9, E = 4, H = 6, 2 layers."""
    V, E, H = len(ALPHABET), 4, 6
    weights = {"embedding.weight": rng.standard_normal((V, E)), "head.weight": rng.standard_normal((V, H)),
               "head.bias": rng.standard_normal(V)}
    for k, inputs in enumerate((E, H)):
        weights[f"lstm.weight_ih_l{k}"] = rng.standard_normal((4 * H, inputs)) * 0.3
        weights[f"lstm.weight_hh_l{k}"] = rng.standard_normal((4 * H, H)) * 0.3
        if bias:
            weights[f"lstm.bias_ih_l{k}"] = rng.standard_normal(4 * H) * 0.1
            weights[f"lstm.bias_hh_l{k}"] = rng.standard_normal(4 * H) * 0.1
    return {k: w.astype(dtype) for k, w in weights.items()}


@pytest.mark.parametrize("length", [str(10**15), "0", "-3"])
def test_a_length_out_of_bounds_is_a_usage_error(capsys, length):
    with pytest.raises(SystemExit) as exit_:
        main(["--length", length, "--repeat", "1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--length must lie in [1, 100,000]" in err


@pytest.mark.parametrize("bias, dtype", [(False, np.float32), (True, np.float64)], ids=["bias_free", "float64"])
def test_models_fastrnn_runs_are_timed_without_the_engines_that_cannot(tmp_path, capsys, rng, bias, dtype):
    """A bias-free LSTM (the engines' builders read lstm.bias_*), float64 weights (ONNX Runtime's LSTM node
    takes float32 only): fastrnn generates and is timed, each other engine is timed or says why not."""
    path = _model_file(tmp_path, _small_model(rng, bias, dtype), ALPHABET)
    assert main(["--model", path, "--prompt", "abc", "--length", "3", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("  engine"):].split("\n\n")[0].splitlines()   # the header, a row per engine
    rows = [line for line in table[1:] if not line.startswith(" " * 16)]   # not a wrapped reason's next line
    assert rows[0].split()[0] == "fastrnn" and "ms" in rows[0]
    for row in rows[1:]:
        assert "ms" in row or "not timed" in row or "not installed" in row or "pip install" in row, row


def test_a_deeply_nested_json_is_a_format_error(tmp_path, capsys, rng):
    path = _model_file(tmp_path, _small_model(rng), ALPHABET)
    (tmp_path / "m.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["--model", path, "--length", "1", "--repeat", "1"]) == 2
    err = capsys.readouterr().err
    assert "nests too deeply" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("meta", [{"alphabet": ALPHABET, "source": "x", "valid_loss_nats_per_char": "low"},
                                  {"alphabet": ALPHABET, "source": {"a": 1}}])
def test_odd_notes_in_the_json_are_left_out(tmp_path, capsys, rng, meta):
    path = _model_file(tmp_path, _small_model(rng), ALPHABET)
    (tmp_path / "m.json").write_text(json.dumps(meta))
    assert main(["--model", path, "--prompt", "ab", "--length", "1", "--repeat", "1"]) == 0


def test_a_json_that_is_too_large_is_a_format_error(tmp_path, capsys, rng):
    path = _model_file(tmp_path, _small_model(rng), ALPHABET)
    (tmp_path / "m.json").write_text(json.dumps({"alphabet": ALPHABET, "notes": "x" * (2 << 20)}))
    assert main(["--model", path, "--length", "1", "--repeat", "1"]) == 2
    assert "larger than" in capsys.readouterr().err


def test_bench_chart_into_a_named_pipe_is_refused_before_the_run(tmp_path, capsys):
    import os
    from fastrnn.benchmark import parse_args
    pipe = tmp_path / "chart.png"
    os.mkfifo(pipe)
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--chart", str(pipe)])
    assert exit_.value.code == 2 and "not a regular file" in capsys.readouterr().err


def test_every_line_fits_80_columns_and_progress_shows_on_stderr(tmp_path, capsys, rng):
    """The demo's text wraps at word boundaries within 80 columns (it wrapped at 100 and cut words) and says
    which engine it is timing during the pause (it showed nothing for seconds)."""
    path = _model_file(tmp_path, _small_model(rng), ALPHABET)
    assert main(["--model", path, "--prompt", "abc " * 30, "--length", "200", "--repeat", "1"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    text = [line[4:] for line in lines if line.startswith("    ")]   # the prompt and its continuation
    for first, second in zip(text, text[1:]):
        assert first.endswith(" ") or second.startswith(" ") or " " not in first + second or \
            len(first) + 1 + len(second.split(" ")[0]) > 76     # wrapped at a space, not inside a word
    assert "timing: fastrnn..." in captured.err and captured.err.rstrip().endswith("done.")
