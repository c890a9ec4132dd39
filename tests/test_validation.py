"""Bad input gets a clear TypeError/ValueError naming the argument; odd but valid layouts are handled."""
import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close


@pytest.fixture
def lstm():
    return fastrnn.LSTM(4, 6, num_layers=2, seed=0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(input_size=0, hidden_size=3), ValueError, "input_size must be >= 1"),
    (dict(input_size=2.5, hidden_size=3), TypeError, "input_size must be an int"),
    (dict(input_size=2, hidden_size=True), TypeError, "hidden_size must be an int"),
    (dict(input_size=2, hidden_size=3, num_layers=0), ValueError, "num_layers"),
    (dict(input_size=2, hidden_size=3, proj_size=3), ValueError, "proj_size must be smaller"),
    (dict(input_size=2, hidden_size=3, merge_mode="avg"), ValueError, "merge_mode must be one of"),
    (dict(input_size=2, hidden_size=3, dtype=np.int32), TypeError, "dtype must be"),
    (dict(input_size=2, hidden_size=3, dtype=np.float16), TypeError, "dtype must be"),
    (dict(input_size=2, hidden_size=3, dropout=1.0), ValueError, "dropout"),
])
def test_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        fastrnn.LSTM(**kwargs)


def test_rnn_nonlinearity_is_checked():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        fastrnn.RNN(2, 3, nonlinearity="sigmoid")


@pytest.mark.parametrize("x, error, match", [
    (np.zeros((5, 3), np.float32), ValueError, r"x has shape \(5, 3\); expected \(T, B, I\) with I = input_size = 4"),
    (np.zeros((5, 2, 3), np.float32), ValueError, r"x has shape \(5, 2, 3\); expected \(T, B, I\)"),
    (np.zeros((2, 5, 2, 4), np.float32), ValueError, "x must be 3-D"),
    (np.zeros(4, np.float32), ValueError, "x must be 3-D"),
    (np.zeros((5, 2, 4), np.int64), TypeError, "x must be a float32 or float64 array"),
    (np.zeros((5, 2, 4), np.complex64), TypeError, "x must be a float32 or float64 array"),
    (np.zeros((5, 2, 4), object), TypeError, "x must be a float32 or float64 array"),
    (np.zeros((5, 2, 4), bool), TypeError, "x must be a float32 or float64 array"),
    (np.zeros((5, 2, 4), np.float64), TypeError, "x has dtype float64 but the layer computes in float32"),
    (np.full((5, 2, 4), np.nan, np.float32), ValueError, "x contains NaN or infinity"),
    (np.full((5, 2, 4), np.inf, np.float32), ValueError, "x contains NaN or infinity"),
    ("not an array", TypeError, "x must be"),
])
def test_bad_input(lstm, x, error, match):
    with pytest.raises(error, match=match):
        lstm(x)


def test_bad_states(lstm):
    x = np.zeros((5, 3, 4), np.float32)
    good_h, good_c = np.zeros((2, 3, 6), np.float32), np.zeros((2, 3, 6), np.float32)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 3, 6\); expected \(L\*D, B, P\) = \(2, 3, 6\)"):
        lstm(x, (np.zeros((1, 3, 6), np.float32), good_c))
    with pytest.raises(ValueError, match=r"c0 has shape \(2, 3, 5\); expected \(L\*D, B, H\) = \(2, 3, 6\)"):
        lstm(x, (good_h, np.zeros((2, 3, 5), np.float32)))
    with pytest.raises(TypeError, match=r"hx of an LSTM must be None or a tuple \(h0, c0\)"):
        lstm(x, good_h)
    with pytest.raises(ValueError, match="c0 contains NaN"):
        lstm(x, (good_h, np.full((2, 3, 6), np.nan, np.float32)))
    with pytest.raises(TypeError, match="h0 must be a float32 or float64 array"):
        lstm(x, (good_h.astype(np.int32), good_c))
    gru = fastrnn.GRU(4, 6, bidirectional=True)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 3, 6\); expected \(L\*D, B, H\) = \(2, 3, 6\)"):
        gru(x, np.zeros((1, 3, 6), np.float32))


@pytest.mark.parametrize("lengths, error, match", [
    ([3, 5], ValueError, r"lengths has shape \(2,\); expected \(B,\) = \(3,\)"),
    ([0, 5, 2], ValueError, r"lengths must lie in \[1, T\] = \[1, 5\]"),
    ([6, 5, 2], ValueError, r"lengths must lie in \[1, T\]"),
    ([-1, 5, 2], ValueError, r"lengths must lie in \[1, T\]"),
    ([1.5, 5, 2], TypeError, "lengths must be integers"),
    (np.array([[1, 2, 3]]), ValueError, "lengths has shape"),
])
def test_bad_lengths(lstm, lengths, error, match):
    with pytest.raises(error, match=match):
        lstm(np.zeros((5, 3, 4), np.float32), lengths=lengths)


def test_odd_layouts_give_the_same_answer(lstm, rng):
    x = rng.standard_normal((6, 3, 4)).astype(np.float32)
    expected, _ = lstm(x)
    read_only = x.copy()
    read_only.flags.writeable = False
    fortran = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=2)[:, :, ::2]
    reversed_twice = x[::-1][::-1]
    negative = np.ascontiguousarray(x[::-1])[::-1]
    for variant in (read_only, fortran, strided, reversed_twice, negative, x.tolist(), x.astype(np.float16)):
        got, _ = lstm(variant)
        tol = 1e-2 if getattr(variant, "dtype", None) == np.float16 else RTOL[np.float32]
        assert_close(got, expected if tol == RTOL[np.float32] else lstm(x.astype(np.float16))[0], tol)


def test_float32_input_upcasts_losslessly_to_float64_layer(rng):
    layer = fastrnn.GRU(4, 5, dtype=np.float64, seed=0)
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer(x)[0], layer(x.astype(np.float64))[0])


def test_empty_batch_and_empty_sequence(lstm):
    out, (h, c) = lstm(np.zeros((5, 0, 4), np.float32))
    assert out.shape == (5, 0, 6) and h.shape == (2, 0, 6) and c.shape == (2, 0, 6)
    out, (h, c) = lstm(np.zeros((0, 3, 4), np.float32))
    assert out.shape == (0, 3, 6)
    np.testing.assert_array_equal(h, 0)


def test_empty_sequence_keeps_the_initial_state(lstm, rng):
    h0 = rng.standard_normal((2, 3, 6)).astype(np.float32)
    c0 = rng.standard_normal((2, 3, 6)).astype(np.float32)
    _, (h, c) = lstm(np.zeros((0, 3, 4), np.float32), (h0, c0))
    np.testing.assert_array_equal(h, h0)
    np.testing.assert_array_equal(c, c0)


def test_state_dict_errors(lstm):
    sd = lstm.state_dict()
    missing = dict(sd)
    del missing["weight_hh_l1"]
    with pytest.raises(KeyError, match=r"missing keys \['weight_hh_l1'\]"):
        lstm.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['weight_ih_l2'\]"):
        lstm.load_state_dict({**sd, "weight_ih_l2": sd["weight_ih_l1"]})
    with pytest.raises(ValueError, match=r"'bias_ih_l0' has shape \(23,\); expected \(24,\)"):
        lstm.load_state_dict({**sd, "bias_ih_l0": np.zeros(23, np.float32)})
    bad = sd["weight_ih_l0"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="'weight_ih_l0' contains NaN"):
        lstm.load_state_dict({**sd, "weight_ih_l0": bad})
    with pytest.raises(TypeError, match="'weight_ih_l0' must be a real-valued array"):
        lstm.load_state_dict({**sd, "weight_ih_l0": sd["weight_ih_l0"].astype(np.complex64)})
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        lstm.load_state_dict([1, 2])
    # a failed load leaves the parameters untouched
    for key, value in lstm.state_dict().items():
        np.testing.assert_array_equal(value, sd[key])


def test_non_strict_load_reports_what_it_skipped(lstm):
    sd = lstm.state_dict()
    fresh = fastrnn.LSTM(4, 6, num_layers=2, seed=9)
    missing, unexpected = fresh.load_state_dict({"weight_hh_l0": sd["weight_hh_l0"], "extra": 1}, strict=False)
    assert "weight_ih_l0" in missing and unexpected == ["extra"]
    np.testing.assert_array_equal(fresh.state_dict()["weight_hh_l0"], sd["weight_hh_l0"])


def test_seed_makes_initialisation_reproducible():
    a, b = fastrnn.GRU(3, 5, seed=7), fastrnn.GRU(3, 5, seed=7)
    for key in a.state_dict():
        np.testing.assert_array_equal(a.state_dict()[key], b.state_dict()[key])
        assert np.abs(a.state_dict()[key]).max() <= 1 / np.sqrt(5)
    c = fastrnn.GRU(3, 5, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(c.state_dict()["weight_ih_l0"], a.state_dict()["weight_ih_l0"])


def test_from_torch_rejects_other_modules():
    with pytest.raises(TypeError, match="LSTM.from_torch needs a torch.nn.LSTM or LSTMCell"):
        fastrnn.LSTM.from_torch(object())
