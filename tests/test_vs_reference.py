"""fastrnn against fastrnn/reference.py (the independent plain-NumPy spec) for every cell and variant, including
those torch lacks (GRU reset-before, peephole LSTM), with lengths, initial states and every merge mode.

Tolerance: conftest.RTOL (float32 2e-5, float64 1e-10, relative to max(1, |expected|)).
"""
import itertools

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import reference

VARIANTS = {   # name -> (class, constructor options, reference options)
    "rnn_tanh": (fastrnn.RNN, {}, {}),
    "rnn_relu": (fastrnn.RNN, {"nonlinearity": "relu"}, {"nonlinearity": "relu"}),
    "lstm": (fastrnn.LSTM, {}, {}),
    "lstm_proj": (fastrnn.LSTM, {"proj_size": 2}, {"proj_size": 2}),
    "lstm_peephole": (fastrnn.LSTM, {"peephole": True}, {"peephole": True}),
    "lstm_peephole_proj": (fastrnn.LSTM, {"peephole": True, "proj_size": 3}, {"peephole": True, "proj_size": 3}),
    "gru": (fastrnn.GRU, {}, {}),
    "gru_reset_before": (fastrnn.GRU, {"linear_before_reset": False}, {"linear_before_reset": False}),
}
T, B, I, H = 6, 5, 3, 4


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("num_layers,bidirectional,merge_mode",
                         [(1, False, "concat"), (2, True, "concat"), (2, True, "sum"), (1, True, "mean"),
                          (3, True, "mul")])
@pytest.mark.parametrize("with_hx,with_lengths,bias", list(itertools.product([False, True], repeat=3)))
def test_matches_reference(variant, num_layers, bidirectional, merge_mode, with_hx, with_lengths, bias, dtype):
    cls, options, ref_options = VARIANTS[variant]
    layer = cls(I, H, num_layers=num_layers, bias=bias, bidirectional=bidirectional, merge_mode=merge_mode,
                dtype=dtype, seed=7, **options)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    LD, P = num_layers * (2 if bidirectional else 1), layer.output_size
    hx = None
    if with_hx:
        h0 = rng.standard_normal((LD, B, P)).astype(dtype)
        hx = (h0, rng.standard_normal((LD, B, H)).astype(dtype)) if cls is fastrnn.LSTM else h0
    lengths = np.array([4, T, 1, 2, 5]) if with_lengths else None
    mode = {fastrnn.RNN: "RNN", fastrnn.LSTM: "LSTM", fastrnn.GRU: "GRU"}[cls]
    expected_out, expected_state = reference.rnn_forward(
        mode, x, layer.state_dict(), hidden_size=H, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
        hx=hx, lengths=lengths, merge_mode=merge_mode, **ref_options)
    out, state = layer(x, hx, lengths)
    assert_close(out, expected_out, RTOL[dtype], "out")
    for got, want in zip(state if isinstance(state, tuple) else (state,),
                         expected_state if isinstance(expected_state, tuple) else (expected_state,)):
        assert_close(got, want, RTOL[dtype], "state")
