"""Keras LSTM/GRU weights -> fastrnn layers that compute what Keras computes.

Two oracles: (1) always, an independent NumPy implementation of Keras' formulas written here in Keras' own
layout (x @ kernel + h @ recurrent_kernel + bias, gate blocks i,f,c,o and z,r,h; GRU reset_after=True:
hh = tanh(x W_h + b_h + r * (h U_h + b_rh)), reset_after=False: hh = tanh(x W_h + b_h + (r * h) U_h);
h' = z * h + (1 - z) * hh), in float64; (2) Keras 3 itself, where it is installed (run on its torch backend,
KERAS_BACKEND=torch, since torch is a test dependency anyway).
"""
import os

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import FormatError
from fastrnn.io.keras import gru_from_keras, lstm_from_keras


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def keras_lstm(x, kernel, recurrent_kernel, bias):
    """Keras' LSTM, x (B, T, I) -> (outputs (B, T, H), h, c)."""
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    h, c, outputs = np.zeros((B, H)), np.zeros((B, H)), []
    for t in range(T):
        z = x[:, t] @ kernel + h @ recurrent_kernel + (0.0 if bias is None else bias)
        i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def keras_gru(x, kernel, recurrent_kernel, bias, reset_after):
    """Keras' GRU, x (B, T, I) -> (outputs (B, T, H), h)."""
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    if bias is None:
        bias = np.zeros((2, 3 * H)) if reset_after else np.zeros(3 * H)
    U_z, U_r, U_h = (recurrent_kernel[:, k * H:(k + 1) * H] for k in range(3))
    h, outputs = np.zeros((B, H)), []
    for t in range(T):
        xm = x[:, t] @ kernel + (bias[0] if reset_after else bias)
        x_z, x_r, x_h = (xm[:, k * H:(k + 1) * H] for k in range(3))
        if reset_after:
            hm = h @ recurrent_kernel + bias[1]
            z, r = sigmoid(x_z + hm[:, :H]), sigmoid(x_r + hm[:, H:2 * H])
            hh = np.tanh(x_h + r * hm[:, 2 * H:])
        else:
            z, r = sigmoid(x_z + h @ U_z), sigmoid(x_r + h @ U_r)
            hh = np.tanh(x_h + (r * h) @ U_h)
        h = z * h + (1.0 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1), h


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    I, H = 5, 6
    return dict(x=rng.standard_normal((3, 8, I)), I=I, H=H,
                lstm=(rng.standard_normal((I, 4 * H)) * 0.5, rng.standard_normal((H, 4 * H)) * 0.5,
                      rng.standard_normal(4 * H) * 0.5),
                gru=(rng.standard_normal((I, 3 * H)) * 0.5, rng.standard_normal((H, 3 * H)) * 0.5),
                gru_bias_after=rng.standard_normal((2, 3 * H)) * 0.5, gru_bias_before=rng.standard_normal(3 * H) * 0.5)


# ------------------------------------------------------------------------------- NumPy oracle (always runs)
@pytest.mark.parametrize("with_bias", [True, False])
def test_lstm_matches_keras_formulas(data, with_bias):
    kernel, recurrent, bias = data["lstm"]
    bias = bias if with_bias else None
    layer = fastrnn.LSTM.from_keras(kernel, recurrent, bias, batch_first=True, dtype=np.float64)
    assert layer.bias == with_bias
    out, (h, c) = layer(data["x"])
    want, want_h, want_c = keras_lstm(data["x"], kernel, recurrent, bias)
    assert_close(out, want, RTOL[np.float64], "out")
    assert_close(h[0], want_h, RTOL[np.float64], "h")
    assert_close(c[0], want_c, RTOL[np.float64], "c")


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gru_matches_keras_formulas(data, reset_after, with_bias):
    kernel, recurrent = data["gru"]
    bias = (data["gru_bias_after"] if reset_after else data["gru_bias_before"]) if with_bias else None
    layer = fastrnn.GRU.from_keras(kernel, recurrent, bias, reset_after=reset_after, batch_first=True,
                                   dtype=np.float64)
    assert layer.linear_before_reset == reset_after
    out, h = layer(data["x"])
    want, want_h = keras_gru(data["x"], kernel, recurrent, bias, reset_after)
    assert_close(out, want, RTOL[np.float64], "out")
    assert_close(h[0], want_h, RTOL[np.float64], "h")


def test_split_biases_of_cudnn_layers(data):
    kernel, recurrent, bias = data["lstm"]
    H = data["H"]
    split = np.concatenate([bias * 0.25, bias * 0.75])  # (8H,): input then recurrent biases
    kwargs, weights = lstm_from_keras(kernel, recurrent, split)
    np.testing.assert_allclose(weights["bias_ih_l0"] + weights["bias_hh_l0"], bias)
    kernel, recurrent = data["gru"]
    flat = data["gru_bias_after"].reshape(-1)  # (6H,)
    _, from_flat = gru_from_keras(kernel, recurrent, flat)
    _, from_rows = gru_from_keras(kernel, recurrent, data["gru_bias_after"])
    for key in from_rows:
        np.testing.assert_array_equal(from_flat[key], from_rows[key])
    assert kwargs == dict(input_size=data["I"], hidden_size=H, bias=True)


def test_torch_layout_and_gate_order(data):
    kernel, recurrent = data["gru"]
    H = data["H"]
    kwargs, weights = gru_from_keras(kernel, recurrent, data["gru_bias_after"])
    assert kwargs == dict(input_size=data["I"], hidden_size=H, bias=True, linear_before_reset=True)
    # torch rows r, z, n are Keras column blocks 1, 0, 2
    np.testing.assert_array_equal(weights["weight_ih_l0"][:H], kernel[:, H:2 * H].T)
    np.testing.assert_array_equal(weights["weight_ih_l0"][H:2 * H], kernel[:, :H].T)
    np.testing.assert_array_equal(weights["weight_hh_l0"][2 * H:], recurrent[:, 2 * H:].T)
    assert all(w.flags.c_contiguous for w in weights.values())


@pytest.mark.parametrize("call, match", [
    (lambda d: lstm_from_keras(d["lstm"][0], d["lstm"][1][:, :-1], None), r"recurrent_kernel has shape \(6, 23\)"),
    (lambda d: lstm_from_keras(d["lstm"][0][:, :8], d["lstm"][1], None), r"kernel has shape \(5, 8\); expected"),
    (lambda d: lstm_from_keras(d["lstm"][0], d["lstm"][1], np.zeros(5)), r"bias has shape \(5,\)"),
    (lambda d: lstm_from_keras(d["lstm"][0][0], d["lstm"][1], None), "expected 2-D"),
    (lambda d: gru_from_keras(*d["gru"], d["gru_bias_before"], reset_after=True),
     r"a \(3H,\) bias belongs to reset_after=False"),
    (lambda d: gru_from_keras(*d["gru"], d["gru_bias_after"], reset_after=False),
     r"a \(2, 3H\) bias belongs to reset_after=True"),
    (lambda d: gru_from_keras(d["lstm"][0], d["lstm"][1], None), r"a Keras GRU expects \(H, 3\*H\)"),
    (lambda d: lstm_from_keras(d["lstm"][0].astype(int), d["lstm"][1], None), "float weights"),
])
def test_shape_errors(data, call, match):
    with pytest.raises(FormatError, match=match):
        call(data)


# ------------------------------------------------------------------------------- Keras itself, if installed
@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _run_keras(keras, layer, x):
    outputs = layer(x.astype(np.float32))
    return [keras.ops.convert_to_numpy(o) for o in outputs]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, about NumPy 2's __array__ protocol
@pytest.mark.parametrize("use_bias", [True, False])
def test_lstm_against_keras(keras, data, use_bias):
    layer = keras.layers.LSTM(data["H"], return_sequences=True, return_state=True, use_bias=use_bias)
    layer.build((None, None, data["I"]))
    rng = np.random.default_rng(3)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    out, h, c = _run_keras(keras, layer, data["x"])
    ours = fastrnn.LSTM.from_keras(*layer.get_weights() + ([] if use_bias else [None]), batch_first=True)
    our_out, (our_h, our_c) = ours(data["x"].astype(np.float32))
    assert_close(our_out, out, RTOL[np.float32], "out")
    assert_close(our_h[0], h, RTOL[np.float32], "h")
    assert_close(our_c[0], c, RTOL[np.float32], "c")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gru_against_keras(keras, data, reset_after, use_bias):
    layer = keras.layers.GRU(data["H"], return_sequences=True, return_state=True, reset_after=reset_after,
                             use_bias=use_bias)
    layer.build((None, None, data["I"]))
    rng = np.random.default_rng(4)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    out, h = _run_keras(keras, layer, data["x"])
    weights = layer.get_weights() + ([] if use_bias else [None])
    ours = fastrnn.GRU.from_keras(*weights, reset_after=reset_after, batch_first=True)
    our_out, our_h = ours(data["x"].astype(np.float32))
    assert_close(our_out, out, RTOL[np.float32], "out")
    assert_close(our_h[0], h, RTOL[np.float32], "h")


# ------------------------------------------------------------------ defaults and Keras layer objects
def test_from_keras_is_batch_first_by_default(data):
    """Keras' input is (B, T, I): the default must read it so (issue: outputs were 0.32 off with no error)."""
    kernel, recurrent, bias = data["lstm"]
    layer = fastrnn.LSTM.from_keras(kernel, recurrent, bias, dtype=np.float64)
    assert layer.batch_first
    out, _ = layer(data["x"])
    assert_close(out, keras_lstm(data["x"], kernel, recurrent, bias)[0], RTOL[np.float64], "out")
    gru = fastrnn.GRU.from_keras(*data["gru"], data["gru_bias_after"], dtype=np.float64)
    assert gru.batch_first and gru.linear_before_reset
    assert not fastrnn.GRU.from_keras(*data["gru"], batch_first=False).batch_first


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("use_bias", [True, False])
def test_lstm_from_a_keras_layer_object(keras, data, use_bias):
    layer = keras.layers.LSTM(data["H"], return_sequences=True, return_state=True, use_bias=use_bias)
    layer.build((None, None, data["I"]))
    rng = np.random.default_rng(5)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    out, h, c = _run_keras(keras, layer, data["x"])
    ours = fastrnn.LSTM.from_keras(layer)
    assert ours.batch_first and ours.bias == use_bias
    our_out, (our_h, our_c) = ours(data["x"].astype(np.float32))
    assert_close(our_out, out, RTOL[np.float32], "out")
    assert_close(our_h[0], h, RTOL[np.float32], "h")
    assert_close(our_c[0], c, RTOL[np.float32], "c")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_from_a_keras_layer_object(keras, data, reset_after):
    layer = keras.layers.GRU(data["H"], return_sequences=True, return_state=True, reset_after=reset_after)
    layer.build((None, None, data["I"]))
    rng = np.random.default_rng(6)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.get_weights()])
    out, h = _run_keras(keras, layer, data["x"])
    ours = fastrnn.GRU.from_keras(layer)
    assert ours.linear_before_reset == reset_after
    our_out, our_h = ours(data["x"].astype(np.float32))
    assert_close(our_out, out, RTOL[np.float32], "out")
    assert_close(our_h[0], h, RTOL[np.float32], "h")


@pytest.mark.parametrize("make, call, error, match", [
    (lambda k: k.layers.LSTM(4, activation="relu"), fastrnn.LSTM.from_keras, ValueError, "activation='relu'"),
    (lambda k: k.layers.LSTM(4, recurrent_activation="hard_sigmoid"), fastrnn.LSTM.from_keras, ValueError,
     "recurrent_activation='hard_sigmoid'"),
    (lambda k: k.layers.LSTM(4, go_backwards=True), fastrnn.LSTM.from_keras, ValueError, "go_backwards"),
    (lambda k: k.layers.GRU(4), fastrnn.LSTM.from_keras, TypeError, "needs a keras.layers.LSTM"),
    (lambda k: k.layers.GRU(4, reset_after=False),
     lambda layer: fastrnn.GRU.from_keras(layer, reset_after=True), ValueError, "contradicts"),
    (lambda k: k.layers.LSTM(4), lambda layer: fastrnn.LSTM.from_keras(layer, np.zeros((4, 16))), TypeError,
     "either a keras.layers.LSTM alone or its arrays"),
])
def test_keras_layer_objects_that_cannot_be_represented(keras, make, call, error, match):
    layer = make(keras)
    layer.build((None, None, 3))
    with pytest.raises(error, match=match):
        call(layer)


def test_unbuilt_keras_layer(keras):
    with pytest.raises(ValueError, match="no weights yet"):
        fastrnn.LSTM.from_keras(keras.layers.LSTM(4))


def test_missing_recurrent_kernel(data):
    with pytest.raises(TypeError, match="kernel and recurrent_kernel"):
        fastrnn.LSTM.from_keras(data["lstm"][0])
