"""examples/dask_batch_inference.py on a local cluster of 2 worker processes, tiny input: the scores equal those
of the same blocks scored in this process, and each worker's fastrnn runs on that worker's one thread."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from fastrnn.demo import CharLM

from conftest import RTOL, assert_close

pytest.importorskip("distributed")   # dask and distributed are test extras: installed in CI

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                      "dask_batch_inference.py")
HANG_GUARD_SECONDS = 300   # not a timing check: only stops a cluster that never comes up


def load_example():
    spec = importlib.util.spec_from_file_location("dask_batch_inference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cluster_scores_equal_a_local_run(tmp_path):
    out = tmp_path / "scores.npy"
    # A subprocess: the script's functions live in its __main__, which Dask ships to the workers by value.
    result = subprocess.run([sys.executable, SCRIPT, "--sequences", "60", "--length", "40", "--block", "16",
                             "--workers", "2", "--out", str(out)],
                            capture_output=True, text=True, timeout=HANG_GUARD_SECONDS)
    assert result.returncode == 0, result.stderr
    assert "2 workers; fastrnn threads on each: [1, 1]" in result.stdout, result.stdout

    example = load_example()
    model = CharLM.load()
    sequences = example.make_sequences(model, 60, 40)
    expected = example.score_local(model, sequences, 16)
    scores = np.load(out)
    assert scores.shape == (60,)
    assert_close(scores, expected, RTOL[np.float32], "scores")
    assert scores[0::2].mean() > scores[1::2].mean() + 0.5, "book text scores above shuffled text"


def test_score_block_is_the_mean_log_probability():
    """score_block against a plain loop over the characters, from the model's logits."""
    model = CharLM.load()
    ids = np.random.default_rng(0).integers(0, len(model.alphabet), (3, 9)).astype(np.uint8)
    logits, _ = model.run(ids[:, :-1])
    logits = logits.astype(np.float64)
    expected = [np.mean([logits[b, t, ids[b, t + 1]] - np.log(np.exp(logits[b, t]).sum()) for t in range(8)])
                for b in range(3)]
    assert_close(load_example().score_block(model, ids), expected, 1e-12, "scores")
