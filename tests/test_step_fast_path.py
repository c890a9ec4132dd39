"""step()'s fast path (one Cython call for exactly-typed input): same results as the checked path and the NumPy
reference, new arrays out, the state passed in untouched, parameter changes seen on the next step."""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from conftest import RTOL, assert_close

I, H = 5, 8
LAYERS = {   # name: (layer, reference mode, reference options)
    "lstm": (lambda dt: fastrnn.LSTM(I, H, num_layers=2, dtype=dt, seed=0), "LSTM", {}),
    "lstm_proj": (lambda dt: fastrnn.LSTM(I, H, proj_size=3, dtype=dt, seed=0), "LSTM", {}),
    "gru": (lambda dt: fastrnn.GRU(I, H, num_layers=2, dtype=dt, seed=0), "GRU", {}),
    "rnn": (lambda dt: fastrnn.RNN(I, H, dtype=dt, seed=0), "RNN", {}),
}


def states(layer, B, rng):
    """A random state of `layer` for batch B, in the form step() takes and returns."""
    L, P, dt = layer.num_layers, layer.output_size, layer.dtype
    h = rng.standard_normal((L, B, P)).astype(dt)
    if isinstance(layer, fastrnn.LSTM):
        return h, rng.standard_normal((L, B, H)).astype(dt)
    return h


def expected_step(name, layer, x, state):
    """The reference's output and state of one step."""
    _, mode, options = LAYERS[name]
    out, h_n = reference.rnn_forward(mode, x[None], layer.state_dict(), hidden_size=H, hx=state,
                                     num_layers=layer.num_layers,
                                     proj_size=getattr(layer, "proj_size", 0), **options)
    return out[0], h_n


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_fast_step_matches_checked_path_and_reference(name, dtype, rng):
    layer = LAYERS[name][0](dtype)
    x = rng.standard_normal((3, I)).astype(dtype)
    state = states(layer, 3, rng)
    layer.step(x, state)                                            # warms this thread's runner
    y_fast, s_fast = layer.step(x, state)                           # exact types: the fast path
    strided = tuple(np.asfortranarray(s) for s in as_tuple(state))  # needs converting: the checked path
    y_checked, s_checked = layer.step(np.asfortranarray(x), strided if len(strided) == 2 else strided[0])
    np.testing.assert_array_equal(y_fast, y_checked)
    for a, b in zip(as_tuple(s_fast), as_tuple(s_checked)):
        np.testing.assert_array_equal(a, b)
    y_ref, _ = expected_step(name, layer, x, state)
    assert_close(y_fast, y_ref, RTOL[dtype])


@pytest.mark.parametrize("name", list(LAYERS))
def test_fast_step_returns_new_arrays_and_keeps_the_state(name, rng):
    layer = LAYERS[name][0](np.float32)
    x = rng.standard_normal((2, I)).astype(np.float32)
    state = states(layer, 2, rng)
    layer.step(x, state)
    before = tuple(s.copy() for s in as_tuple(state))
    y, new_state = layer.step(x, state)
    for s, b in zip(as_tuple(state), before):
        np.testing.assert_array_equal(s, b)
    outputs = (y, *as_tuple(new_state))
    for k, a in enumerate(outputs):
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.owndata
        for other in (*as_tuple(state), x, *outputs[k + 1:]):
            assert not np.shares_memory(a, other)
    np.testing.assert_array_equal(y, as_tuple(new_state)[0][-1])


def test_fast_step_sees_parameter_changes(rng):
    layer = fastrnn.LSTM(I, H, num_layers=2, seed=0)
    x = rng.standard_normal((2, I)).astype(np.float32)
    state = states(layer, 2, rng)
    layer.step(x, state)
    layer.params["weight_hh_l1"] *= 0.5                             # in place
    assert_close(layer.step(x, state)[0], expected_step("lstm", layer, x, state)[0], RTOL[np.float32])
    layer.params["bias_ih_l0"] = layer.params["bias_ih_l0"] + 1.0   # a new array under the same name
    assert_close(layer.step(x, state)[0], expected_step("lstm", layer, x, state)[0], RTOL[np.float32])


def test_fast_step_follows_batch_size_changes(rng):
    layer = fastrnn.GRU(I, H, seed=0)
    for B in (1, 4, 1, 4, 2):
        x = rng.standard_normal((B, I)).astype(np.float32)
        state = states(layer, B, rng)
        y, h = layer.step(x, state)
        assert y.shape == (B, H) and h.shape == (1, B, H)
        assert_close(y, expected_step("gru", layer, x, state)[0], RTOL[np.float32])


def test_fast_step_leaves_errors_to_the_checked_path(rng):
    layer = fastrnn.LSTM(I, H, seed=0)
    x = rng.standard_normal((1, I)).astype(np.float32)
    h, c = states(layer, 1, rng)
    layer.step(x, (h, c))
    with pytest.raises(ValueError, match="h0 contains NaN"):
        layer.step(x, (np.full_like(h, np.nan), c))
    with pytest.raises(ValueError, match=r"x_t has shape \(1, 6\)"):
        layer.step(np.zeros((1, I + 1), np.float32), (h, c))
    with pytest.raises(TypeError, match=r"hx of an LSTM must be None or a tuple \(h0, c0\)"):
        layer.step(x, h)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_fast_step_converts_big_endian_arrays(name, dtype, rng):
    """A '>f4'/'>f8' x or state (np.load of a file written elsewhere) is converted, never read as native bytes,
    also after a first step has warmed the fast path for that batch size."""
    layer = LAYERS[name][0](dtype)
    x = rng.standard_normal((3, I)).astype(dtype)
    state = states(layer, 3, rng)
    layer.step(x, state)                                            # warms this thread's runner
    swapped = np.dtype(dtype).newbyteorder(">" if np.little_endian else "<")
    y_native, s_native = layer.step(x, state)
    swapped_state = tuple(s.astype(swapped) for s in as_tuple(state))
    swapped_state = swapped_state if len(swapped_state) == 2 else swapped_state[0]
    for x_in, state_in in ((x.astype(swapped), state), (x, swapped_state), (x.astype(swapped), swapped_state)):
        y, s_new = layer.step(x_in, state_in)
        np.testing.assert_array_equal(y, y_native)
        for a, b in zip(as_tuple(s_new), as_tuple(s_native)):
            np.testing.assert_array_equal(a, b)
