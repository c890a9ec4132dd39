"""Defects found by attacking fastrnn.nn as a user can (each test failed before its fix):

- configuration attributes (Linear.in_features, Embedding.num_embeddings, LayerNorm.normalized_shape,
  AdditiveAttention.input_size, ...) could be reassigned, after which calls failed inside NumPy or with a raw
  IndexError; they are fixed once built, as the recurrent layers' are;
- a parameter array replaced by one of another shape, dtype or type failed inside NumPy (or returned a
  float64 result from a float32 piece); each call now checks it and names it;
- Linear's and Embedding's backward added into read-only or misshapen gradient arrays (NumPy's errors);
- a cell's or an attention's `params` was a snapshot: an array assigned into it was silently ignored by the
  computation (and an array replaced in the attention's Linear left its state_dict stale);
- pickles of every piece held zero gradients as large as the weights (issue 8's item 12, fixed for the
  recurrent layers only), so they were twice the weights' size (the attention's three times);
- softmax / log_softmax of an empty axis and gelu of a Python float raised NumPy's internal errors;
- huge Linear / Embedding / LayerNorm sizes raised MemoryError (or could start allocating) instead of a
  ValueError stating the size; a non-integer padding_idx raised a raw IndexError;
- every constructor taking rng= raised a raw AttributeError for a non-generator;
- optimizers took a NaN lr, eps, momentum or weight decay (every weight NaN after one step);
- Sequential.pieces changed after construction skipped its checks (a pooling of the wrong layout returned a
  wrong answer); a layout naming a piece twice silently kept only the second; a list or number as a weight
  read as a "missing key".
Plus a property test: any input to the activations and pooling either raises ValueError/TypeError or matches
torch / a direct NumPy computation.
"""
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn import FormatError, nn
from fastrnn.train import SGD, Adam

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
x32 = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)


# ------------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("make, attribute, value", [
    (lambda: nn.Linear(4, 6, seed=0), "in_features", 7),
    (lambda: nn.Linear(4, 6, seed=0), "out_features", 2),
    (lambda: nn.Embedding(10, 3, seed=0), "num_embeddings", 20),
    (lambda: nn.Embedding(10, 3, seed=0), "padding_idx", 1),
    (lambda: nn.LayerNorm(4), "normalized_shape", (3, 4)),
    (lambda: nn.LayerNorm(4), "dtype", np.float64),
    (lambda: nn.AdditiveAttention(4, 5, seed=0), "input_size", 7),
    (lambda: nn.AdditiveAttention(4, 5, seed=0), "proj", nn.Linear(7, 5)),
    (lambda: nn.LSTMCell(4, 3, seed=0), "params", {}),
])
def test_configuration_attributes_are_fixed(make, attribute, value):
    piece = make()
    with pytest.raises(AttributeError, match=f"{attribute} is fixed"):
        setattr(piece, attribute, value)


@pytest.mark.parametrize("make, key, value, call", [
    (lambda: nn.Linear(4, 6, seed=0), "weight", np.zeros((6, 5), np.float32), np.ones((2, 4), np.float32)),
    (lambda: nn.Linear(4, 6, seed=0), "weight", np.zeros((6, 4)), np.ones((2, 4), np.float32)),
    (lambda: nn.Linear(4, 6, seed=0), "weight", [[0.0] * 4] * 6, np.ones((2, 4), np.float32)),
    (lambda: nn.Linear(4, 6, seed=0), "bias", np.zeros(3, np.float32), np.ones((2, 4), np.float32)),
    (lambda: nn.Embedding(10, 3, seed=0), "weight", np.zeros((5, 3), np.float32), np.array([7])),
    (lambda: nn.LayerNorm(4), "weight", np.ones((1, 4), np.float32), x32),
    (lambda: nn.AdditiveAttention(4, 5, seed=0), "proj.weight", np.zeros((5, 3), np.float32), x32),
])
def test_a_replaced_parameter_of_another_shape_dtype_or_type_is_named(make, key, value, call):
    piece = make()
    piece.params[key] = value
    with pytest.raises(ValueError, match=r"params\['" + key.split(".")[-1] + r"'\]"):
        piece(call)


def test_linear_backward_checks_the_weight_too():
    lin = nn.Linear(4, 6, seed=0)
    y, cache = lin.forward_train(np.ones((2, 4), np.float32))
    lin.params["weight"] = np.zeros((6, 5), np.float32)
    with pytest.raises(ValueError, match=r"params\['weight'\]"):
        lin.backward(cache, np.ones_like(y))


@pytest.mark.parametrize("make, ids", [(lambda: nn.Linear(4, 6, seed=0), False), (lambda: nn.Embedding(10, 4, seed=0), True)])
@pytest.mark.parametrize("tamper", ["read_only", "wrong_shape", "bytes_view"])
def test_backward_checks_the_gradient_arrays_it_adds_into(make, ids, tamper):
    """As issue 8 item 5 for the layers: a read-only gradient array failed with NumPy's unnamed error, one of
    another shape inside NumPy's broadcasting."""
    piece = make()
    y, cache = piece.forward_train(np.array([[1, 2]]) if ids else np.ones((1, 2, 4), np.float32))
    g = piece.grads["weight"]
    if tamper == "read_only":
        g.flags.writeable = False
    elif tamper == "wrong_shape":
        piece.grads["weight"] = np.zeros(g.shape[:1] + (1,), g.dtype)
    else:
        piece.grads["weight"] = np.frombuffer(bytes(g.nbytes), g.dtype).reshape(g.shape)
    with pytest.raises(ValueError, match=r"grads\['weight'\].*writeable"):
        piece.backward(cache, np.ones_like(y))


@pytest.mark.parametrize("cell_class", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_an_array_assigned_into_a_cells_params_is_the_one_computing(cell_class):
    x = np.ones((2, 4), np.float32)
    cell = cell_class(4, 3, seed=0)
    cell.params["weight_ih"] = np.zeros_like(cell.params["weight_ih"])
    expected = cell_class(4, 3, seed=0)
    expected.params["weight_ih"][...] = 0                      # the same values, written in place
    np.testing.assert_array_equal(np.asarray(cell(x)), np.asarray(expected(x)))
    assert not cell.state_dict()["weight_ih"].any()
    cell.params["weight_hh"] = np.zeros((2, 2), np.float32)    # wrong shape: the layer names it at the call
    with pytest.raises(ValueError, match="weight_hh"):
        cell(x)
    with pytest.raises(KeyError, match="no parameter"):
        cell.params["weight_xx"] = np.zeros(3)


def test_cells_still_pickle_with_shared_parameters():
    cell = nn.GRUCell(4, 3, seed=0)
    copy = pickle.loads(pickle.dumps(cell))
    copy.params["bias_ih"][...] = 1.0
    assert copy._layer.params["bias_ih_l0"] is copy.params["bias_ih"]
    x = np.ones((2, 4), np.float32)
    assert not np.array_equal(copy(x), cell(x))


def test_attention_params_and_its_linears_stay_one_set_of_arrays():
    x = x32
    attn = nn.AdditiveAttention(4, 5, seed=0)
    attn.params["proj.weight"] = np.zeros((5, 4), np.float32)     # through the attention ...
    assert not attn.proj.params["weight"].any()
    attn.score.params["weight"] = np.ones((1, 5), np.float32)      # ... or through its Linear
    assert attn.state_dict()["score.weight"].all()
    # zero proj.weight: every step scores the same, so the output is the plain mean over time
    assert_close(attn(x), x.mean(axis=0), RTOL[np.float32])


@pytest.mark.parametrize("make", [lambda: nn.LSTMCell(64, 64, seed=0), lambda: nn.Linear(128, 64, seed=0),
                                  lambda: nn.Embedding(500, 32, seed=0), lambda: nn.LayerNorm(1024),
                                  lambda: nn.AdditiveAttention(128, 64, seed=0)])
def test_pickles_hold_the_weights_once_and_non_zero_gradients(make):
    piece = make()
    weight_bytes = sum(value.nbytes for value in piece.params.values())
    assert len(pickle.dumps(piece)) < 1.1 * weight_bytes + 4096          # was 2x (3x for the attention)
    name = next(iter(piece.grads))
    piece.grads[name][...] = 1.0
    copy = pickle.loads(pickle.dumps(piece))
    assert all(np.array_equal(copy.grads[k], piece.grads[k]) for k in piece.grads)
    assert all(np.array_equal(copy.params[k], piece.params[k]) for k in piece.params)


# ------------------------------------------------------------------------------------- activations
@pytest.mark.parametrize("shape, dim", [((3, 0), -1), ((0, 3), 0), ((0, 3), 1), ((2, 0, 4), 2)])
def test_softmax_of_empty_arrays_is_empty_as_in_torch(shape, dim):
    x = np.zeros(shape, np.float32)
    for fn in (nn.softmax, nn.log_softmax):
        out = fn(x, dim)
        assert out.shape == shape and out.dtype == np.float32


def test_gelu_of_a_python_float_matches_torch():
    torch = require_torch()
    for approximate in ("none", "tanh"):
        expected = torch.nn.functional.gelu(torch.tensor(-0.7, dtype=torch.float64), approximate=approximate)
        assert_close(nn.gelu(-0.7, approximate), expected.numpy(), RTOL[np.float64])


# ------------------------------------------------------------------------------------- sizes, types
@pytest.mark.parametrize("make, name", [
    (lambda: nn.Linear(10**6, 10**6), "Linear"),
    (lambda: nn.Embedding(10**10, 1000), "Embedding"),
    (lambda: nn.LayerNorm((10**6, 10**6)), "LayerNorm"),
    (lambda: nn.AdditiveAttention(10**6, 10**6), "Linear"),
])
def test_huge_sizes_fail_at_once_with_the_size(make, name, monkeypatch):
    from fastrnn import _validation
    monkeypatch.setattr(_validation, "physical_memory_bytes", lambda: 8 << 30)   # an 8 GiB machine
    # (sizes far beyond any machine: before the check, NumPy refused them with MemoryError, allocating nothing)
    with pytest.raises(ValueError, match=rf"{name}\(.*parameters.*GiB"):
        make()


@pytest.mark.parametrize("padding_idx, error", [(2.5, TypeError), ("a", TypeError), (True, TypeError),
                                                (10, ValueError), (-11, ValueError)])
def test_embedding_padding_idx_must_be_an_int_in_range(padding_idx, error):
    with pytest.raises(error, match="padding_idx"):
        nn.Embedding(10, 3, padding_idx=padding_idx)


def test_layer_norm_eps_must_be_a_number():
    with pytest.raises(TypeError, match="eps"):
        nn.LayerNorm(4, eps=None)
    with pytest.raises(TypeError, match="eps"):
        nn.LayerNorm(4, eps="1e-3")


@pytest.mark.parametrize("make", [lambda **k: fastrnn.LSTM(3, 4, **k), lambda **k: nn.Linear(3, 4, **k),
                                  lambda **k: nn.Embedding(3, 4, **k), lambda **k: nn.AdditiveAttention(3, 4, **k),
                                  lambda **k: nn.GRUCell(3, 4, **k),
                                  lambda **k: fastrnn.GRU.from_keras(np.ones((3, 6)), np.ones((2, 6)), None, **k)])
def test_seed_and_rng_are_checked(make):
    """rng=5 raised a raw AttributeError ('int' object has no attribute 'uniform') from every constructor, and a
    bad seed NumPy's messages that do not say which argument."""
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator; got int"):
        make(rng=5)
    with pytest.raises(TypeError, match="seed must be"):
        make(seed="a")
    with pytest.raises(ValueError, match="seed must be"):
        make(seed=-1)
    make(rng=np.random.RandomState(0))     # the legacy generator still works
    make(seed=3)


# ------------------------------------------------------------------------------------- Sequential
def _model():
    return nn.Sequential({"lstm": fastrnn.LSTM(4, 6, batch_first=True, seed=0), "pool": nn.LastStep(batch_first=True),
                          "fc": nn.Linear(6, 2, seed=0)})


def test_pieces_changed_after_construction_are_checked_at_the_call():
    x = np.ones((5, 5, 4), np.float32)          # B = T: a pooling over the wrong axis would not fail by itself
    model = _model()
    model.pieces["pool"] = nn.LastStep(batch_first=False)
    with pytest.raises(ValueError, match="batch_first"):
        model(x)
    model = _model()
    model.pool.batch_first = False
    with pytest.raises(ValueError, match="batch_first"):
        model(x)
    model = _model()
    model.pieces["extra"] = 5
    with pytest.raises(TypeError, match="'extra' must be callable"):
        model(x)
    model = _model()
    model.pieces.clear()
    with pytest.raises(ValueError, match="at least one piece"):
        model(x)


def test_a_layout_naming_a_piece_twice_is_refused():
    sd = {"a.weight": np.ones((2, 2), np.float32)}
    with pytest.raises(ValueError, match="'a' twice"):
        nn.Sequential.from_state_dict(sd, [("a", nn.Linear), ("a", nn.Linear)])


def test_indexing_names_what_exists():
    model = _model()
    assert model[-1] is model.fc and model["pool"] is model.pool
    with pytest.raises(IndexError, match="3 pieces"):
        model[3]
    with pytest.raises(KeyError, match="pieces: lstm, pool, fc"):
        model["nope"]
    with pytest.raises(TypeError, match="got float"):
        model[1.5]
    assert [type(p).__name__ for p in model] == ["LSTM", "LastStep", "Linear"]   # iteration stops at IndexError


@pytest.mark.parametrize("value", [[[1.0, 2.0]], "abc", 3.0, np.float32(1.0)])
def test_a_weight_that_is_not_an_array_is_named(value):
    with pytest.raises(FormatError, match="'weight.*not an array"):
        nn.Linear.from_state_dict({"weight": value})
    with pytest.raises(FormatError, match="'fc.weight.*not an array"):
        nn.Sequential.from_state_dict({"fc.weight": value}, [("fc", nn.Linear)])
    nn.Linear.from_state_dict({"fc.weight": np.ones((2, 3)), "epoch": value}, prefix="fc.")   # elsewhere: fine


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=math.nan), lambda m: SGD(m, lr=0.1, momentum=math.nan),
                                  lambda m: SGD(m, lr=0.1, weight_decay=math.nan), lambda m: Adam(m, lr=math.nan),
                                  lambda m: Adam(m, eps=math.nan), lambda m: Adam(m, weight_decay=math.nan)])
def test_optimizers_refuse_nan_hyperparameters(make):
    """A NaN learning rate (or eps, momentum, weight decay) passed the `< 0` checks and turned every weight into
    NaN at the first step, silently (torch's Adam refuses them too)."""
    with pytest.raises(ValueError):
        make(nn.Linear(2, 2, seed=0))


# ------------------------------------------------------------------------------------- property tests
@st.composite
def arrays(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.bool_, np.complex64]))
    values = draw(st.sampled_from(["normal", "large", "nan", "inf"]))
    x = np.asarray(np.random.default_rng(len(shape)).standard_normal(shape)) * (1e4 if values == "large" else 1)
    if values in ("nan", "inf") and x.size:
        x.flat[0] = np.nan if values == "nan" else -np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.asarray(x.astype(dtype))
    if draw(st.booleans()) and x.ndim:
        x = x[::-1]                                  # negative strides
    if draw(st.booleans()):
        x.flags.writeable = False
    return x


@given(x=arrays(), name=st.sampled_from(["relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax"]),
       dim=st.integers(-4, 3))
@SETTINGS
def test_activations_raise_clearly_or_match_torch(x, name, dim):
    torch = require_torch()
    fn = getattr(nn, name)
    args = (dim,) if name in ("softmax", "log_softmax") else ()
    try:
        out = fn(x, *args)
    except (ValueError, TypeError):
        return
    assert out.shape == x.shape and out.dtype == x.dtype
    t = torch.from_numpy(x.astype(np.float64))
    expected = getattr(torch, name)(t, *args) if name != "gelu" else torch.nn.functional.gelu(t)
    tolerance = {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-10}[x.dtype.type]
    np.testing.assert_allclose(out.astype(np.float64), expected.numpy(), rtol=tolerance, atol=tolerance)


@given(x=arrays(), name=st.sampled_from(["mean_pool", "max_pool", "last_step"]),
       lengths=st.one_of(st.none(), st.lists(st.integers(-1, 5), max_size=4)), batch_first=st.booleans())
@SETTINGS
def test_pooling_raises_clearly_or_matches_numpy(x, name, lengths, batch_first):
    try:
        out = getattr(nn, name)(x, lengths, batch_first=batch_first)
    except (ValueError, TypeError):
        return
    xt = np.swapaxes(x, 0, 1) if batch_first else x
    T, B, F = xt.shape
    steps = np.full(B, T) if lengths is None else np.asarray(lengths)
    for b in range(B):
        valid = xt[:steps[b], b]
        expected = {"mean_pool": lambda: valid.mean(axis=0), "max_pool": lambda: valid.max(axis=0),
                    "last_step": lambda: valid[-1]}[name]()
        np.testing.assert_allclose(out[b], expected, rtol=1e-3 if x.dtype == np.float16 else 1e-6)
