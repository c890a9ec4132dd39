"""`python -m fastrnn demo`: runs where torch cannot be imported, is deterministic with --seed, and its other
engines (naive NumPy, torch, ONNX Runtime) compute the same logits as fastrnn on the shipped weights."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastrnn
from fastrnn import _demo_engines
from fastrnn.demo import MODEL, CharLM, best_time, generate, main

from conftest import RTOL, assert_close, require_torch

# Imported first (PYTHONPATH) by the demo's interpreter: any import of torch fails as if it were not installed.
BLOCK_TORCH = textwrap.dedent("""
    import sys

    class BlockTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, BlockTorch())
""")
HANG_GUARD_SECONDS = 300   # not a timing check: only stops a hung run (the demo takes seconds)


def run_demo_without_torch(tmp_path, *options):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "fastrnn", "demo", "--repeat", "1", *options], env=env,
                            capture_output=True, text=True, timeout=HANG_GUARD_SECONDS)
    assert result.returncode == 0, result.stderr
    return result.stdout


def generated_text(stdout):
    """The continuation the demo printed: the indented block after 'Continuing ...', unwrapped."""
    block = stdout.split("LSTM.step():\n\n", 1)[1].split("\n\n", 1)[0]   # (the line before may be wrapped)
    return block


def test_demo_runs_without_torch(tmp_path):
    out = run_demo_without_torch(tmp_path, "--length", "80")
    assert "torch is not used" in " ".join(out.split())   # wrapped at 80 columns where the path puts it
    assert re.search(r"^  torch\s+not installed \(needs torch\)", out, re.M), out
    assert re.search(r"^  fastrnn\s+\d+\.\d ms\s+\d+\.\d ms", out, re.M), out
    assert re.search(r"same text, max \|diff\|$", out, re.M), out
    assert re.search(r"^  naive NumPy .* yes, \d\.\de[-+]\d+$", out, re.M), out   # identical text, logits close
    assert "python -m fastrnn bench" in out
    model = CharLM.load()
    expected = "Alice was " + model.decode(generate(model, model.encode("Alice was "), 80))
    assert " ".join(generated_text(out).split()) == " ".join(expected.split())


def test_demo_is_deterministic_with_seed(tmp_path):
    first = run_demo_without_torch(tmp_path, "--seed", "11", "--length", "120", "--prompt", "The Queen ")
    again = run_demo_without_torch(tmp_path, "--seed", "11", "--length", "120", "--prompt", "The Queen ")
    assert "sampled, seed 11" in first
    assert generated_text(first) == generated_text(again)
    model = CharLM.load()
    prompt = model.encode("The Queen ")
    expected = model.decode(generate(model, prompt, 120, np.random.default_rng(11), 0.8))
    assert " ".join(generated_text(first).split()) == " ".join(("The Queen " + expected).split())
    other_seed = model.decode(generate(model, prompt, 120, np.random.default_rng(12), 0.8))
    assert other_seed != expected


def test_demo_refuses_a_prompt_it_cannot_encode(capsys):
    assert main(["--prompt", "Alice #1", "--repeat", "1"]) == 2
    assert "does not know: '#1'" in capsys.readouterr().err


def test_demo_refuses_a_model_file_without_its_alphabet(tmp_path, capsys):
    path = tmp_path / "lm.pt"
    path.write_bytes(open(MODEL, "rb").read())
    assert main(["--model", str(path), "--repeat", "1"]) == 2
    assert "JSON beside it" in capsys.readouterr().err


def test_best_time_repeats_until_the_budget_is_spent():
    calls = []
    assert best_time(lambda: calls.append(1) or len(calls), 5, budget=0.0)[1] == 1
    calls.clear()
    assert best_time(lambda: calls.append(1) or len(calls), 3, budget=float("inf"))[1] == 3


@pytest.mark.parametrize("options", [["--length", "0"], ["--temperature", "0"], ["--repeat", "0"]])
def test_demo_refuses_bad_options(options):
    with pytest.raises(SystemExit):
        main(options)


@pytest.mark.parametrize("name", ["naive NumPy", "torch", "ONNX Runtime"])
def test_engines_compute_fastrnn_logits(name):
    if name == "torch":
        require_torch()
    elif name == "ONNX Runtime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    model = CharLM.load()
    engine = _demo_engines.build(name, fastrnn.load(MODEL), MODEL, model.lstm.num_layers)
    ids = np.random.default_rng(3).integers(0, len(model.alphabet), (4, 30))
    logits, _ = engine.run(ids)
    assert_close(logits, model.run(ids)[0], RTOL[np.float32], f"{name} logits")
    prompt = model.encode("Alice ")
    np.testing.assert_array_equal(generate(engine, prompt, 100), generate(model, prompt, 100))
