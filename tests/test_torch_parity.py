"""fastrnn against torch.nn.{RNN, LSTM, GRU}: outputs and final states, every combination torch has.

Tolerance: conftest.RTOL (float32 2e-5, float64 1e-10, relative to max(1, |expected|)).
"""
import itertools

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, TORCH_CELLS as CELLS, assert_close, require_torch

T, B, I, H = 7, 4, 5, 6


def torch_run(torch, module, x, hx, lengths, batch_first):
    """torch's output (padded with zeros past lengths) and final state, as NumPy."""
    tx = torch.from_numpy(x)
    if lengths is not None:
        tx = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=batch_first,
                                                     enforce_sorted=False)
    if hx is not None:
        hx = tuple(torch.from_numpy(a) for a in hx) if isinstance(hx, tuple) else torch.from_numpy(hx)
    with torch.no_grad():
        out, state = module(tx, hx)
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                        total_length=x.shape[1 if batch_first else 0])
    state = tuple(s.numpy() for s in state) if isinstance(state, tuple) else state.numpy()
    return out.numpy(), state


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first,with_hx,with_lengths", list(itertools.product([False, True], repeat=3)))
def test_matches_torch(cell, num_layers, bidirectional, bias, batch_first, with_hx, with_lengths, dtype):
    torch = require_torch()
    cls, torch_name, options = CELLS[cell]
    torch.manual_seed(num_layers * 10 + bidirectional)
    module = getattr(torch.nn, torch_name)(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                                           bidirectional=bidirectional, **options)
    module = module.double() if dtype == np.float64 else module
    layer = cls.from_torch(module)
    assert layer.dtype == dtype
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    LD, P = num_layers * (2 if bidirectional else 1), options.get("proj_size") or H
    hx = None
    if with_hx:
        h0 = rng.standard_normal((LD, B, P)).astype(dtype)
        hx = (h0, rng.standard_normal((LD, B, H)).astype(dtype)) if torch_name == "LSTM" else h0
    lengths = np.array([3, T, 1, 5]) if with_lengths else None
    expected_out, expected_state = torch_run(torch, module, x, hx, lengths, batch_first)
    out, state = layer(x, hx, lengths=lengths)
    assert_close(out, expected_out, RTOL[dtype], "output")
    if torch_name == "LSTM":
        assert_close(state[0], expected_state[0], RTOL[dtype], "h_n")
        assert_close(state[1], expected_state[1], RTOL[dtype], "c_n")
    else:
        assert_close(state, expected_state, RTOL[dtype], "h_n")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "lstm_proj"])
@pytest.mark.parametrize("batch", [3, 40])
def test_long_sequence_and_wide_layer(cell, batch, dtype):
    """A size closer to real use: error must not grow over 200 steps; batch 40 spans several row blocks of the
    packed kernel."""
    torch = require_torch()
    cls, torch_name, options = CELLS[cell]
    torch.manual_seed(0)
    module = getattr(torch.nn, torch_name)(48, 96, num_layers=2, **options)
    module = module.double() if dtype == np.float64 else module
    layer = cls.from_torch(module)
    x = np.random.default_rng(2).standard_normal((200, batch, 48)).astype(dtype)
    expected_out, _ = torch_run(torch, module, x, None, None, False)
    assert_close(layer(x)[0], expected_out, RTOL[dtype], "output")


def test_unbatched_input_matches_torch():
    torch = require_torch()
    torch.manual_seed(0)
    module = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True)
    layer = fastrnn.LSTM.from_torch(module)
    x = np.random.default_rng(3).standard_normal((T, I)).astype(np.float32)
    with torch.no_grad():
        expected_out, (eh, ec) = module(torch.from_numpy(x))
    out, (h, c) = layer(x)
    assert out.shape == (T, 2 * H) and h.shape == (4, H)
    assert_close(out, expected_out.numpy(), RTOL[np.float32])
    assert_close(h, eh.numpy(), RTOL[np.float32])
    assert_close(c, ec.numpy(), RTOL[np.float32])


def test_state_dict_round_trip_into_torch():
    torch = require_torch()
    layer = fastrnn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2, seed=5)
    module = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    assert list(layer.state_dict()) == list(module.state_dict())
    x = np.random.default_rng(4).standard_normal((T, B, I)).astype(np.float32)
    expected_out, _ = torch_run(torch, module, x, None, None, False)
    assert_close(layer(x)[0], expected_out, RTOL[np.float32])


def test_load_state_dict_accepts_torch_tensors():
    torch = require_torch()
    module = torch.nn.GRU(I, H)
    layer = fastrnn.GRU(I, H)
    layer.load_state_dict(module.state_dict())
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(layer.state_dict()[key], value.numpy())
