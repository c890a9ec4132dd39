"""What a state dict or a pickle restores is checked as the constructor builds it: integer weights without their
scales (issue 15 defect 10), unpickled states of every layer and piece (defect 11), a model's own state dict
with a quantized layer inside (defect 12)."""
import numpy as np
import pytest

import fastrnn


def test_integer_weights_without_scales_are_refused_by_a_float_layer():
    sd = fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=0), "int8").state_dict()
    without_scales = {k: v for k, v in sd.items() if not k.endswith("_scale")}
    with pytest.raises(TypeError, match=r"'weight_ih_l0' holds int8 values: quantized weights need their "
                                        r"per-row scales 'weight_ih_l0_scale'"):
        fastrnn.LSTM.from_state_dict(without_scales)
    layer = fastrnn.LSTM(3, 4, seed=1)
    before = layer.state_dict()
    with pytest.raises(TypeError, match=r"'weight_hh_l0_scale'"):
        layer.load_state_dict({**before, "weight_hh_l0": sd["weight_hh_l0"]})
    for name, value in layer.state_dict().items():   # nothing was loaded
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, np.bool_])
def test_every_integer_dtype_is_refused_in_float_pieces(dtype):
    linear = fastrnn.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="'weight' holds"):
        linear.load_state_dict({"weight": np.ones((2, 3), dtype), "bias": np.zeros(2, np.float32)})


def _tampered(piece, change):
    """piece's pickled state after change(state) (a copy of the params dict), restored into a new object."""
    state = piece.__getstate__() if hasattr(piece, "__getstate__") else dict(vars(piece))
    state = dict(state)
    if isinstance(state.get("params"), dict):
        state["params"] = dict(state["params"])
    change(state)
    restored = object.__new__(type(piece))
    restored.__setstate__(state)
    return restored


def _set(key, value):
    return lambda state: state.__setitem__(key, value)


def _set_param(name, value):
    return lambda state: state["params"].__setitem__(name, value)


nn = fastrnn.nn
TAMPERED = {   # id: (piece, change of its state, error, message)
    "quantized_short_bias": (lambda: fastrnn.quantize_dynamic(fastrnn.LSTM(3, 8, seed=0)),
                             _set_param("bias_ih_l0", np.zeros(1, np.float32)), ValueError,
                             r"'bias_ih_l0' has shape \(1,\); expected \(32,\)"),
    "quantized_zero_scales": (lambda: fastrnn.quantize_dynamic(fastrnn.GRU(3, 4, seed=0), "bfloat16"),
                              _set_param("weight_hh_l0_scale", np.zeros(12, np.float32)), ValueError,
                              "finite positive"),
    "quantized_format": (lambda: fastrnn.quantize_dynamic(fastrnn.RNN(3, 4, seed=0), "float16"),
                         _set("weight_format", "int4"), ValueError, "dtype must be one of"),
    "quantized_values_dtype": (lambda: fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=0), "int8"),
                               _set_param("weight_ih_l0", np.zeros((16, 3), np.float16)), ValueError,
                               "holds float16 weights; this layer's are int8"),
    "quantized_hidden_size": (lambda: fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=0), "int8"),
                              _set("hidden_size", 400), ValueError, r"expected \(1600, 3\)"),
    "lstm_short_bias": (lambda: fastrnn.LSTM(3, 8, seed=0), _set_param("bias_ih_l0", np.zeros(1, np.float32)),
                        ValueError, r"parameter 'bias_ih_l0' must be a float32 array of shape \(32,\)"),
    "lstm_nan": (lambda: fastrnn.LSTM(3, 4, seed=0), _set_param("weight_hh_l0", np.full((16, 4), np.nan, np.float32)),
                 ValueError, "'weight_hh_l0' contains NaN"),
    "gru_missing": (lambda: fastrnn.GRU(3, 4, seed=0), lambda s: s["params"].pop("bias_hh_l0"), ValueError,
                    "unpickled GRU state has parameters"),
    "rnn_dtype": (lambda: fastrnn.RNN(3, 4, seed=0), _set("dtype", np.dtype(np.int32)), TypeError,
                  "dtype must be np.float32 or np.float64"),
    "linear_shape": (lambda: nn.Linear(3, 4), _set("in_features", 5), ValueError,
                     r"'weight' must be a float32 array of shape \(4, 5\)"),
    "embedding_gradient": (lambda: nn.Embedding(5, 3), _set("grads", {"weight": np.ones((1, 1))}), ValueError,
                           "gradient 'weight' does not match"),
    "layer_norm_object": (lambda: nn.LayerNorm(4), _set_param("weight", [1.0, 2.0, 3.0, 4.0]), ValueError,
                          "'weight' must be a float32 array"),
    "attention_parts": (lambda: nn.AdditiveAttention(4, 3), _set("score", nn.Linear(2, 1)), ValueError,
                        "proj has 3 outputs but score takes 2"),
    "cell_two_layers": (lambda: nn.LSTMCell(3, 4), _set("_layer", fastrnn.LSTM(3, 4, num_layers=2)), ValueError,
                        "one-layer unidirectional LSTM"),
    "dropout_p": (lambda: nn.Dropout(0.2), _set("p", 7.0), ValueError, r"p must be a number in \[0, 1\]"),
    "pooling_extra": (lambda: nn.MeanPool(), _set("window", 3), TypeError, "does not fit its constructor"),
    "sequential_empty": (lambda: nn.Sequential(nn.ReLU()), _set("pieces", {}), ValueError, "at least one piece"),
    "sequential_chain": (lambda: nn.Sequential(fastrnn.LSTM(3, 4), nn.LastStep()),
                         _set("pieces", {"a": fastrnn.LSTM(3, 4, batch_first=True), "b": nn.LastStep()}), ValueError,
                         "batch_first"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_unpickled_state_is_checked(case):
    make, change, error, message = TAMPERED[case]
    with pytest.raises(error, match=message):
        _tampered(make(), change)


@pytest.mark.parametrize("case", list(TAMPERED))
def test_untampered_state_restores_and_computes_the_same(case, rng):
    import pickle
    piece = TAMPERED[case][0]()
    copy = pickle.loads(pickle.dumps(piece))
    assert repr(copy) == repr(piece)
    for name, value in getattr(piece, "params", {}).items():
        np.testing.assert_array_equal(np.asarray(copy.params[name]), np.asarray(value))
    if isinstance(piece, fastrnn.LSTM | fastrnn.GRU | fastrnn.RNN):
        x = rng.standard_normal((2, 1, piece.input_size)).astype(np.float32)
        np.testing.assert_array_equal(copy(x)[0], piece(x)[0])


@pytest.mark.parametrize("fmt", ["int8", "bfloat16", "float16"])
def test_a_model_with_a_quantized_layer_loads_its_own_state_dict(fmt, rng):
    def model(seed):
        return nn.Sequential({"lstm": fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, batch_first=True, seed=seed), fmt),
                              "pool": nn.LastStep(batch_first=True), "fc": nn.Linear(4, 2, seed=seed)})
    source, target = model(0), model(1)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    assert target.load_state_dict(source.state_dict()) == ([], [])
    np.testing.assert_array_equal(target(x), source(x))
    target.load_state_dict(target.state_dict())   # its own, again
    np.testing.assert_array_equal(target(x), source(x))


def test_a_failed_model_load_changes_nothing(rng):
    model = nn.Sequential({"lstm": fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=0)), "fc": nn.Linear(4, 2)})
    other = nn.Sequential({"lstm": fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=1)), "fc": nn.Linear(4, 2)})
    before = model.state_dict()
    bad_fc = {**other.state_dict(), "fc.weight": np.zeros((3, 3), np.float32)}
    bad_lstm = {**other.state_dict(), "lstm.weight_ih_l0_scale": np.zeros(16, np.float32)}
    with pytest.raises(ValueError, match="fc.weight"):
        model.load_state_dict(bad_fc)
    with pytest.raises(ValueError, match="finite positive"):
        model.load_state_dict(bad_lstm)
    with pytest.raises(KeyError, match="missing keys"):
        model.load_state_dict({k: v for k, v in other.state_dict().items() if k != "lstm.weight_hh_l0_scale"})
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
