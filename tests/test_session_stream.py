"""session.stream(): chunks through a stream equal the whole sequence (per-step outputs concatenate to the whole
run's; a last-step model's last chunk gives the whole run's output), reset() starts over, streams are independent
of each other and of their session, states given as graph inputs stay the caller's; and one session called from
several threads at once gives each call its single-threaded answer.
"""
import concurrent.futures
import os

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn import _onnx_models as models

onnx = pytest.importorskip("onnx")
TOL = RTOL[np.float32]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch = require_torch()
    folder, paths = tmp_path_factory.mktemp("stream"), {}

    def get(name, dynamo=False):
        key = (name, dynamo)
        if key not in paths:
            paths[key] = folder / f"{name}_{int(dynamo)}.onnx"
            models.export(torch, name, paths[key], dynamo=dynamo, opset=18 if dynamo else 17)
        return paths[key]
    return get


def _chunks(feeds, bounds):
    return [{k: v[:, a:b] for k, v in feeds.items()} for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_chunks_of_a_per_step_model_concatenate_to_the_whole(exported, dynamo):
    """The char LM (2-layer LSTM, log-softmax per step): chunks of 1, 5 and 11 steps."""
    session = fastrnn.InferenceSession(exported("charlm", dynamo))
    fixed = session.get_inputs()[0].shape[1]
    if isinstance(fixed, int):   # the dynamo exporter fixed the time axis of this model: a stream of one chunk
        pytest.skip(f"the dynamo export of this model has a fixed time axis ({fixed})")
    feeds = models.example_inputs("charlm", 3, 17)
    (whole,) = session.run(None, feeds)
    stream = session.stream()
    parts = [stream.run(None, chunk)[0] for chunk in _chunks(feeds, [0, 1, 6, 17])]
    assert_close(np.concatenate(parts, axis=1), whole, TOL, "chunked vs whole")


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_a_last_step_model_ends_where_the_whole_sequence_does(exported, dynamo):
    """The GRU regressor (2-layer GRU, head on the last step) and the sentiment LSTM (head on h_n)."""
    for name in ("gru_regressor", "sentiment_lstm"):
        session = fastrnn.InferenceSession(exported(name, dynamo))
        feeds = models.example_inputs(name, 4, 12)
        (whole,) = session.run(None, feeds)
        stream = session.stream()
        outs = [stream.run(None, chunk)[0] for chunk in _chunks(feeds, [0, 3, 4, 12])]
        assert_close(outs[-1], whole, TOL, f"{name}: last chunk vs whole")
        assert not np.allclose(outs[0], whole, atol=1e-3)   # the first chunk alone is another answer


def test_reset_and_independence(exported):
    session = fastrnn.InferenceSession(exported("charlm"))
    a, b = models.example_inputs("charlm", 2, 8, seed=1), models.example_inputs("charlm", 2, 8, seed=2)
    (whole_a,), (whole_b,) = session.run(None, a), session.run(None, b)
    first, second = session.stream(), session.stream()
    halves_a, halves_b = _chunks(a, [0, 4, 8]), _chunks(b, [0, 4, 8])
    outs_a, outs_b = [], []
    for part_a, part_b in zip(halves_a, halves_b):       # interleaved: neither stream sees the other's states
        outs_a.append(first.run(None, part_a)[0])
        outs_b.append(second.run(None, part_b)[0])
        assert_close(session.run(None, part_a)[0], session.run(None, part_a)[0], 0, "session stays stateless")
    assert_close(np.concatenate(outs_a, 1), whole_a, TOL, "stream a")
    assert_close(np.concatenate(outs_b, 1), whole_b, TOL, "stream b")
    first.reset()
    assert_close(first.run(None, halves_a[0])[0], whole_a[:, :4], TOL, "after reset")


def test_a_batch_change_needs_a_reset(exported):
    stream = fastrnn.InferenceSession(exported("charlm")).stream()
    stream.run(None, models.example_inputs("charlm", 2, 3))
    with pytest.raises(ValueError, match=r"carries states of batch 2 .* batch is 3 \(call reset\(\) first\)"):
        stream.run(None, models.example_inputs("charlm", 3, 3))
    stream.reset()
    stream.run(None, models.example_inputs("charlm", 3, 3))


def test_states_that_are_graph_inputs_stay_the_callers(tmp_path):
    """A GRU node whose initial_h is a graph input: the stream does not replace what the caller feeds."""
    from test_onnx_import import B, H, I, T, build_onnx
    path = tmp_path / "gru.onnx"
    build_onnx(path, "GRU", initial_h=True)
    session = fastrnn.InferenceSession(path)
    rng = np.random.default_rng(0)
    feeds = {"X": rng.standard_normal((T, B, I)).astype(np.float32),
             "initial_h": rng.standard_normal((1, B, H)).astype(np.float32)}
    stream = session.stream()
    for _ in range(2):
        for got, want in zip(stream.run(None, feeds), session.run(None, feeds)):
            assert_close(got, want, 0, "stream with caller's states")


def test_one_session_from_several_threads(exported):
    """8 threads x 12 calls of different sizes on one session: each result equals the single-threaded one."""
    session = fastrnn.InferenceSession(exported("attention_classifier"))
    cases = [models.example_inputs("attention_classifier", 1 + k % 5, 3 + k % 7, seed=k) for k in range(12)]
    expected = [session.run(None, feeds)[0] for feeds in cases]

    def work(offset):
        return [session.run(None, cases[(offset + k) % len(cases)])[0] for k in range(len(cases))], offset

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for results, offset in pool.map(work, range(8)):
            for k, got in enumerate(results):
                assert np.array_equal(got, expected[(offset + k) % len(cases)])


def test_streams_in_threads_are_independent(exported):
    session = fastrnn.InferenceSession(exported("charlm"))
    sequences = [models.example_inputs("charlm", 2, 9, seed=k) for k in range(4)]
    wholes = [session.run(None, feeds)[0] for feeds in sequences]

    def work(k):
        stream = session.stream()
        return k, np.concatenate([stream.run(None, c)[0] for c in _chunks(sequences[k], [0, 2, 5, 9])], axis=1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1) + 2) as pool:
        for k, chunked in pool.map(work, range(4)):
            assert_close(chunked, wholes[k], TOL, f"stream {k}")
