"""Streaming: chunked calls and step() continue a sequence exactly as one whole call does."""
import re

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close

LAYERS = {
    "rnn": lambda dt: fastrnn.RNN(5, 8, num_layers=2, dtype=dt, seed=0),
    "rnn_relu": lambda dt: fastrnn.RNN(5, 8, nonlinearity="relu", dtype=dt, seed=0),
    "lstm": lambda dt: fastrnn.LSTM(5, 8, num_layers=3, dtype=dt, seed=0),
    "lstm_proj_peephole": lambda dt: fastrnn.LSTM(5, 8, num_layers=2, proj_size=3, peephole=True, dtype=dt,
                                                  seed=0),
    "gru": lambda dt: fastrnn.GRU(5, 8, num_layers=2, dtype=dt, seed=0),
    "gru_reset_before": lambda dt: fastrnn.GRU(5, 8, linear_before_reset=False, dtype=dt, seed=0),
}


def as_tuple(state):
    """(h,) for RNN/GRU states, (h, c) for LSTM states."""
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("name", list(LAYERS))
def test_chunked_equals_whole(name, dtype, rng):
    layer = LAYERS[name](dtype)
    x = rng.standard_normal((12, 3, 5)).astype(dtype)
    whole_out, whole_state = layer(x)
    out_a, state = layer(x[:5])
    out_b, state = layer(x[5:], state)
    assert_close(np.concatenate([out_a, out_b]), whole_out, RTOL[dtype])
    for got, want in zip(as_tuple(state), as_tuple(whole_state)):
        assert_close(got, want, RTOL[dtype])


@pytest.mark.parametrize("name", list(LAYERS))
def test_step_equals_whole(name, dtype, rng):
    layer = LAYERS[name](dtype)
    x = rng.standard_normal((9, 2, 5)).astype(dtype)
    whole_out, whole_state = layer(x)
    state = None
    for t in range(9):
        y, state = layer.step(x[t], state)
        assert_close(y, whole_out[t], RTOL[dtype], f"step {t}")
    for got, want in zip(as_tuple(state), as_tuple(whole_state)):
        assert_close(got, want, RTOL[dtype])


def test_step_does_not_modify_the_state_passed_in(rng):
    layer = fastrnn.LSTM(4, 6, seed=1)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    _, state = layer.step(x)
    before = tuple(s.copy() for s in state)
    layer.step(x, state)
    for s, b in zip(state, before):
        np.testing.assert_array_equal(s, b)


def test_step_accepts_unbatched_rows_and_other_layouts(rng):
    layer = fastrnn.GRU(4, 6, seed=1)
    x = rng.standard_normal((3, 4))
    y_batched, _ = layer.step(x.astype(np.float32))
    y_row, state = layer.step(list(x[1]))                # a Python list, one unbatched row
    assert y_row.shape == (6,) and state.shape == (1, 6)
    assert_close(y_row, y_batched[1], RTOL[np.float32])
    y_strided, _ = layer.step(np.asfortranarray(x.astype(np.float32)))
    assert_close(y_strided, y_batched, RTOL[np.float32])


def test_step_on_bidirectional_layer_raises():
    layer = fastrnn.LSTM(4, 6, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        layer.step(np.zeros((1, 4), np.float32))


def test_step_state_shape_is_checked():
    layer = fastrnn.LSTM(4, 6, num_layers=2)
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 3, 6\); expected"):
        layer.step(x, (np.zeros((1, 3, 6), np.float32), np.zeros((2, 3, 6), np.float32)))
    with pytest.raises(ValueError, match=r"x_t has shape \(3, 5\)"):
        layer.step(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        layer.step(np.full((3, 4), np.nan, np.float32))


def test_step_fast_path_still_rejects_bad_state_values(rng):
    layer = fastrnn.LSTM(4, 6, seed=0)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    _, (h, c) = layer.step(x)                    # warms the per-batch-size runner (the fast path)
    with pytest.raises(ValueError, match="c0 contains NaN"):
        layer.step(x, (h, np.full_like(c, np.nan)))
    with pytest.raises(ValueError, match="x_t contains NaN"):
        layer.step(np.full_like(x, np.inf), (h, c))
    with pytest.raises(TypeError, match=r"hx of an LSTM must be None or a tuple \(h0, c0\)"):
        layer.step(x, h)


def test_layers_pickle_with_weights_and_state(rng):
    import pickle
    layer = fastrnn.GRU(4, 6, num_layers=2, bidirectional=True, merge_mode="sum", seed=3)
    x = rng.standard_normal((5, 2, 4)).astype(np.float32)
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(clone(x)[0], layer(x)[0])
    assert repr(clone) == repr(layer)


@pytest.mark.parametrize("shape", [(31,), (2, 31), (1, 2, 3)])
def test_a_step_of_the_wrong_shape_reports_the_shape_passed(shape):
    layer = fastrnn.GRU(5, 4, seed=0)
    with pytest.raises(ValueError, match=rf"x_t has shape {re.escape(str(shape))}; expected \(B, I\) or one row"):
        layer.step(np.zeros(shape, np.float32))
