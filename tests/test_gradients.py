"""Gradients of forward_train/backward: against torch autograd (every combination torch has) and, for the
variants torch lacks (GRU reset-before, peephole LSTM), against float64 4th-order central differences.

Loss L = sum(out * d_out) + sum(state * d_state), so dL/dout = d_out and dL/dstate = d_state.
Tolerances: conftest.GRAD_RTOL (float32 vs autograd 1e-4, float64 vs finite differences 1e-6), relative to
max(1, |expected|).
"""
import itertools

import numpy as np
import pytest

import fastrnn
from conftest import GRAD_RTOL, TORCH_CELLS as CELLS, assert_close, fourth_order_difference, require_torch

T, B, I, H = 6, 3, 4, 5


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_like_state(rng, state):
    parts = tuple(rng.standard_normal(s.shape).astype(s.dtype) for s in as_tuple(state))
    return parts if isinstance(state, tuple) else parts[0]


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
@pytest.mark.parametrize("batch_first,with_hx,with_lengths,bias", list(itertools.product([False, True], repeat=4)))
def test_gradients_match_torch_autograd(cell, num_layers, bidirectional, batch_first, with_hx, with_lengths, bias):
    torch = require_torch()
    cls, torch_name, options = CELLS[cell]
    torch.manual_seed(num_layers)
    module = getattr(torch.nn, torch_name)(I, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                                           bidirectional=bidirectional, **options)
    layer = cls.from_torch(module)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    LD, P = num_layers * (2 if bidirectional else 1), options.get("proj_size") or H
    hx = None
    if with_hx:
        h0 = rng.standard_normal((LD, B, P)).astype(np.float32)
        hx = (h0, rng.standard_normal((LD, B, H)).astype(np.float32)) if torch_name == "LSTM" else h0
    lengths = np.array([2, T, 4]) if with_lengths else None

    out, state, tape = layer.forward_train(x, hx, lengths)
    d_out = rng.standard_normal(out.shape).astype(np.float32)
    d_state = random_like_state(rng, state)
    dx, dhx = layer.backward(tape, d_out, d_state)

    tx = torch.from_numpy(x).requires_grad_()
    thx = None if hx is None else tuple(torch.from_numpy(a).requires_grad_() for a in as_tuple(hx))
    inp = tx
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=batch_first,
                                                      enforce_sorted=False)
    tout, tstate = module(inp, None if thx is None else (thx if torch_name == "LSTM" else thx[0]))
    if lengths is not None:
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=batch_first, total_length=T)
    loss = (tout * torch.from_numpy(d_out)).sum()
    for s, ds in zip(as_tuple(tstate), as_tuple(d_state)):
        loss = loss + (s * torch.from_numpy(ds)).sum()
    loss.backward()

    tol = GRAD_RTOL[np.float32]
    assert_close(dx, tx.grad.numpy(), tol, "dx")
    if thx is not None:
        for got, want in zip(as_tuple(dhx), thx):
            assert_close(got, want.grad.numpy(), tol, "dhx")
    for name, param in module.named_parameters():
        assert_close(layer.grads[name], param.grad.numpy(), tol, name)


@pytest.mark.parametrize("merge_mode", ["sum", "mean", "mul"])
def test_merge_mode_gradients_match_torch(merge_mode):
    """torch has only concat: its two halves merged by hand give the reference."""
    torch = require_torch()
    torch.manual_seed(0)
    module = torch.nn.GRU(I, H, bidirectional=True)
    layer = fastrnn.GRU.from_torch(module)
    layer.merge_mode = merge_mode
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    out, _, tape = layer.forward_train(x)
    d_out = rng.standard_normal(out.shape).astype(np.float32)
    dx, _ = layer.backward(tape, d_out)
    tx = torch.from_numpy(x).requires_grad_()
    both, _ = module(tx)
    fwd, bwd = both[..., :H], both[..., H:]
    merged = {"sum": fwd + bwd, "mean": (fwd + bwd) / 2, "mul": fwd * bwd}[merge_mode]
    (merged * torch.from_numpy(d_out)).sum().backward()
    assert_close(out, merged.detach().numpy(), 2e-5)
    assert_close(dx, tx.grad.numpy(), GRAD_RTOL[np.float32], "dx")
    for name, param in module.named_parameters():
        assert_close(layer.grads[name], param.grad.numpy(), GRAD_RTOL[np.float32], name)


def loss_of(layer, x, hx, lengths, d_out, d_state):
    out, state = layer(x, hx, lengths)
    return float(np.sum(out * d_out) + sum(np.sum(s * ds) for s, ds in zip(as_tuple(state), as_tuple(d_state))))


FD_LAYERS = {
    "gru_reset_before": lambda: fastrnn.GRU(3, 4, num_layers=2, bidirectional=True, linear_before_reset=False,
                                            dtype=np.float64, seed=1),
    "lstm_peephole": lambda: fastrnn.LSTM(3, 4, num_layers=2, bidirectional=True, peephole=True,
                                          dtype=np.float64, seed=1),
    "lstm_peephole_proj": lambda: fastrnn.LSTM(3, 4, peephole=True, proj_size=2, dtype=np.float64, seed=1),
    "gru_reset_before_no_bias": lambda: fastrnn.GRU(3, 4, bias=False, linear_before_reset=False,
                                                    dtype=np.float64, seed=2),
}


@pytest.mark.parametrize("name", list(FD_LAYERS))
@pytest.mark.parametrize("with_lengths", [False, True])
def test_gradients_match_finite_differences(name, with_lengths):
    layer = FD_LAYERS[name]()
    rng = np.random.default_rng(3)
    T_, B_ = 4, 2
    x = rng.standard_normal((T_, B_, 3))
    LD, P = layer.num_layers * layer.num_directions, layer.output_size
    h0 = rng.standard_normal((LD, B_, P))
    hx = (h0, rng.standard_normal((LD, B_, 4))) if isinstance(layer, fastrnn.LSTM) else h0
    lengths = np.array([2, 4]) if with_lengths else None
    out, state, tape = layer.forward_train(x, hx, lengths)
    d_out, d_state = rng.standard_normal(out.shape), random_like_state(rng, state)
    dx, dhx = layer.backward(tape, d_out, d_state)

    def f():
        return loss_of(layer, x, hx, lengths, d_out, d_state)

    tol = GRAD_RTOL[np.float64]
    assert_close(dx, fourth_order_difference(f, x), tol, "dx")
    for got, h in zip(as_tuple(dhx), as_tuple(hx)):
        assert_close(got, fourth_order_difference(f, h), tol, "dhx")
    for key, value in layer.params.items():
        assert_close(layer.grads[key], fourth_order_difference(f, value), tol, key)


def test_gradients_accumulate_until_zero_grad():
    layer = fastrnn.LSTM(3, 4, seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    out, _, tape = layer.forward_train(x)
    layer.backward(tape, np.ones_like(out))
    once = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(tape, np.ones_like(out))
    for key in once:
        assert_close(layer.grads[key], 2 * once[key], 1e-6, key)
    layer.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_dropout_only_in_training_and_reproducible():
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    a = fastrnn.LSTM(3, 8, num_layers=3, dropout=0.5, seed=4)
    b = fastrnn.LSTM(3, 8, num_layers=3, dropout=0.5, seed=4)
    plain = fastrnn.LSTM(3, 8, num_layers=3, seed=4)
    np.testing.assert_array_equal(a(x)[0], plain(x)[0])           # inference: no dropout
    out_a, _, tape = a.forward_train(x)
    out_b, _, _ = b.forward_train(x)
    np.testing.assert_array_equal(out_a, out_b)                    # same seed, same masks
    assert not np.allclose(out_a, plain(x)[0])
    mask = tape.masks[1]
    assert set(np.unique(mask)) <= {0.0, 2.0} and 0 < (mask == 0).mean() < 1


def test_dropout_gradient_matches_finite_differences():
    layer = fastrnn.GRU(3, 4, num_layers=2, dropout=0.3, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    out, _, tape = layer.forward_train(x)
    d_out = np.random.default_rng(2).standard_normal(out.shape)
    dx, _ = layer.backward(tape, d_out)
    masks = tape.masks

    def f():   # the same masks, applied by hand around two one-layer runs
        first, second = fastrnn.GRU(3, 4, dtype=np.float64), fastrnn.GRU(4, 4, dtype=np.float64)
        params = layer.state_dict()
        first.load_state_dict({k: params[k] for k in first.state_dict()})
        second.load_state_dict({k: params[k.replace("_l0", "_l1")] for k in second.state_dict()})
        hidden, _ = first(x)
        out2, _ = second(hidden * masks[1])
        return float(np.sum(out2 * d_out))

    assert_close(dx, fourth_order_difference(f, x), GRAD_RTOL[np.float64], "dx")


def test_backward_validates_its_arguments():
    layer = fastrnn.LSTM(3, 4)
    other = fastrnn.LSTM(3, 4, num_layers=2)
    out, _, tape = layer.forward_train(np.zeros((2, 1, 3), np.float32))
    with pytest.raises(ValueError, match=r"d_out has shape \(2, 1, 5\); expected out.shape"):
        layer.backward(tape, np.zeros((2, 1, 5), np.float32))
    with pytest.raises(TypeError, match="tape must be"):
        other.backward(tape, np.zeros_like(out))
    with pytest.raises(ValueError, match="d_out contains NaN"):
        layer.backward(tape, np.full_like(out, np.nan))
