"""Parameters are never stale: every way of changing a layer's weights is seen by the next call, on every kernel
path. Streaming steps and calls of a few steps read torch's layout directly; longer calls, batches of more than 8
rows and backward read panels packed once per layer (csrc/plan.c), which must be rebuilt when their source
changes. Changes of shape, dtype or layout raise ValueError naming the parameter.

Expected values come from fastrnn/reference.py (plain NumPy) on the layer's current state_dict, float64,
tolerance RTOL (conftest).
"""
import pickle

import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from fastrnn.train import Adam
from conftest import RTOL, assert_close

I, H = 5, 11
LAYERS = {
    "lstm": (lambda: fastrnn.LSTM(I, H, dtype=np.float64, seed=1), "LSTM", {}),
    "lstm_proj_peephole": (lambda: fastrnn.LSTM(I, H, proj_size=4, peephole=True, dtype=np.float64, seed=1),
                           "LSTM", {"proj_size": 4, "peephole": True}),
    "gru": (lambda: fastrnn.GRU(I, H, dtype=np.float64, seed=1), "GRU", {}),
    "gru_reset_before": (lambda: fastrnn.GRU(I, H, linear_before_reset=False, dtype=np.float64, seed=1), "GRU",
                         {"linear_before_reset": False}),
    "rnn_relu": (lambda: fastrnn.RNN(I, H, nonlinearity="relu", dtype=np.float64, seed=1), "RNN",
                 {"nonlinearity": "relu"}),
}
# (steps, batch): a streaming step, a short call (direct kernel), a long call and a wide batch (packed panels)
CALLS = {"step": (1, 2), "short": (2, 3), "long": (9, 2), "wide_batch": (3, 12)}


def run(layer, x, call):
    """The layer's output over x (T, B, I) through the path `call` names."""
    if call == "step":
        y, _ = layer.step(x[0])
        return y[None]
    return layer(x)[0]


def expected(name, layer, x):
    _, mode, options = LAYERS[name]
    return reference.rnn_forward(mode, x, layer.state_dict(), hidden_size=H, **options)[0]


def perturbed(a, rng):
    return a + 0.3 * rng.standard_normal(a.shape)


CHANGES = {
    "slice_assignment": lambda layer, rng: [layer.params[k].__setitem__(slice(None), perturbed(v, rng))
                                            for k, v in layer.params.items()],
    "in_place_multiply": lambda layer, rng: [v.__imul__(1.5) for v in layer.params.values()],
    "load_state_dict": lambda layer, rng: layer.load_state_dict(
        {k: perturbed(v, rng) for k, v in layer.params.items()}),
    "replaced_array": lambda layer, rng: [layer.params.__setitem__(k, perturbed(v, rng))
                                          for k, v in list(layer.params.items())],
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_next_call_sees_every_weight_change(name, call, change, rng):
    layer = LAYERS[name][0]()
    T, B = CALLS[call]
    x = rng.standard_normal((T, B, I))
    before = run(layer, x, call)             # builds whatever this path caches
    assert_close(before, expected(name, layer, x), RTOL[np.float64], "before")
    CHANGES[change](layer, rng)
    after = run(layer, x, call)
    assert_close(after, expected(name, layer, x), RTOL[np.float64], "after")
    assert np.abs(after - before).max() > 1e-3


@pytest.mark.parametrize("name", list(LAYERS))
def test_optimizer_steps_reach_forward_and_backward(name, rng):
    """Adam updates in place; each iteration's forward (packed) and backward (transposed panels) must use the
    updated weights: compare with a fresh layer built from the same state (nothing cached) every iteration."""
    layer = LAYERS[name][0]()
    optimizer = Adam([(layer.params, layer.grads)], lr=0.05)
    x = rng.standard_normal((9, 3, I))
    for _ in range(3):
        fresh = LAYERS[name][0]()
        fresh.load_state_dict(layer.state_dict())
        layer.zero_grad()
        out, _, tape = layer.forward_train(x)
        fresh_out, _, fresh_tape = fresh.forward_train(x)
        assert_close(out, fresh_out, 1e-12, "out")
        d_out = np.cos(out)
        dx, _ = layer.backward(tape, d_out)
        fresh_dx, _ = fresh.backward(fresh_tape, d_out)
        assert_close(dx, fresh_dx, 1e-12, "dx")
        for key in layer.grads:
            assert_close(layer.grads[key], fresh.grads[key], 1e-12, key)
        optimizer.step()


def test_rebinding_optimizer_trains(rng):
    """An update written as params[k] = params[k] - lr * g (a new array each step) changes the output."""
    layer = fastrnn.LSTM(I, H, dtype=np.float64, seed=0)
    x = rng.standard_normal((9, 2, I))
    out0 = layer(x)[0]
    for key in list(layer.params):
        layer.params[key] = layer.params[key] - 0.1 * np.ones_like(layer.params[key])
    assert_close(layer(x)[0], reference.rnn_forward("LSTM", x, layer.state_dict(), hidden_size=H)[0],
                 RTOL[np.float64])
    assert np.abs(layer(x)[0] - out0).max() > 1e-3


def set_shape(layer, key, shape):
    layer.params[key].shape = shape


BAD_CHANGES = {
    "wrong_shape": lambda layer, key: layer.params.__setitem__(key, np.zeros((3, 3))),
    "wrong_dtype": lambda layer, key: layer.params.__setitem__(key, layer.params[key].astype(np.float32)),
    "not_contiguous": lambda layer, key: layer.params.__setitem__(   # same shape and dtype, strided
        key, np.repeat(layer.params[key], 2, axis=-1)[..., ::2]),
    "reshaped_in_place": lambda layer, key: set_shape(layer, key, (layer.params[key].size,)
                                                      if layer.params[key].ndim == 2 else (1, -1)),
    "resized_in_place": lambda layer, key: layer.params[key].resize(2 * layer.params[key].size, refcheck=False),
    "deleted": lambda layer, key: layer.params.__delitem__(key),
    "not_an_array": lambda layer, key: layer.params.__setitem__(key, layer.params[key].tolist()),
}


@pytest.mark.parametrize("key", ["weight_hh_l0", "weight_ih_l0", "bias_hh_l0", "weight_hr_l0"])
@pytest.mark.parametrize("bad", list(BAD_CHANGES))
@pytest.mark.parametrize("call", list(CALLS) + ["train"])
def test_bad_parameter_change_raises_naming_it(key, bad, call, rng):
    layer = fastrnn.LSTM(I, H, proj_size=4, dtype=np.float64, seed=0)
    T, B = CALLS.get(call, (4, 2))
    x = rng.standard_normal((T, B, I))
    run(layer, x, "long")                     # packed panels exist
    run(layer, x, "step")                     # a streaming runner exists
    BAD_CHANGES[bad](layer, key)
    with pytest.raises(ValueError, match=rf"params\['{key}'\]"):
        if call == "train":
            layer.forward_train(x)
        else:
            run(layer, x, call)


def test_layer_works_again_after_a_bad_change_is_undone(rng):
    layer = fastrnn.GRU(I, H, dtype=np.float64, seed=0)
    x = rng.standard_normal((9, 2, I))
    good = layer.params["weight_hh_l0"]
    layer.params["weight_hh_l0"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        layer(x)
    layer.params["weight_hh_l0"] = good
    assert_close(layer(x)[0], expected("gru", layer, x), RTOL[np.float64])


def test_pickle_carries_no_packed_copies(rng):
    layer = fastrnn.LSTM(I, 64, seed=0)
    size_before = len(pickle.dumps(layer))
    layer(rng.standard_normal((20, 16, I)).astype(np.float32))     # packs W_hh
    assert len(pickle.dumps(layer)) == size_before
    clone = pickle.loads(pickle.dumps(layer))
    x = rng.standard_normal((20, 3, I)).astype(np.float32)
    np.testing.assert_array_equal(clone(x)[0], layer(x)[0])
