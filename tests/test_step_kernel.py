"""The streaming step's fused kernel (csrc/step_kernel.inc: x W_ih^T + h W_hh^T in one pass over torch's layout)
and its one-call entry (fastrnn/_step.pxi): every cell kind, both dtypes, stacks, projection, no bias, batch 1 to
past the kernel's rows, against torch's stepped modules and cells and the NumPy reference; parameters changed in
place between steps; threads stepping one layer at once."""
import threading

import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from conftest import RTOL, TORCH_CELLS, assert_close, require_torch

# Steps chained per comparison: errors would compound through the state.
STEPS = 5


def torch_dtype(torch, dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def step_through(layer, xs, state=None):
    """(outputs (T, B, P), final state) of layer.step over xs (T, B, I), each step fed the last one's state."""
    ys = []
    for x in xs:
        y, state = layer.step(x, state)
        ys.append(y)
    return np.stack(ys), state


@pytest.mark.parametrize("B", [1, 3, 8, 11])   # 11: more rows than the fused kernel takes (fr_step_stack)
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(TORCH_CELLS))
def test_steps_match_torch_stepped(name, dtype, bias, layers, B, rng):
    torch = require_torch()
    cls, torch_name, options = TORCH_CELLS[name]
    I, H = 13, 20   # sizes off every vector width: the kernel's partial vectors and partial blocks run
    module = getattr(torch.nn, torch_name)(I, H, num_layers=layers, bias=bias, **options).to(
        torch_dtype(torch, dtype))
    layer = cls.from_torch(module)
    xs = rng.standard_normal((STEPS, B, I)).astype(dtype)
    ys, state = step_through(layer, xs)
    with torch.no_grad():
        expected, expected_state = module(torch.from_numpy(xs))
    assert_close(ys, expected.numpy(), RTOL[dtype], "outputs")
    for got, want in zip(as_tuple(state), as_tuple(expected_state)):
        assert_close(got, want.numpy(), RTOL[dtype], "state")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("torch_name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_one_step_matches_torch_cells(torch_name, dtype, rng):
    torch = require_torch()
    I, H, B = 64, 64, 1   # the streaming shape of the issue
    cell = getattr(torch.nn, torch_name)(I, H).to(torch_dtype(torch, dtype))
    layer = getattr(fastrnn, torch_name[:-4]).from_torch(cell)
    x = rng.standard_normal((B, I)).astype(dtype)
    h = rng.standard_normal((B, H)).astype(dtype)
    c = rng.standard_normal((B, H)).astype(dtype)
    with torch.no_grad():
        if torch_name == "LSTMCell":
            want_h, want_c = cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
            y, (h_n, c_n) = layer.step(x, (h[None], c[None]))
            assert_close(c_n[0], want_c.numpy(), RTOL[dtype], "c")
        else:
            want_h = cell(torch.from_numpy(x), torch.from_numpy(h))
            y, h_n = layer.step(x, h[None])
    assert_close(y, want_h.numpy(), RTOL[dtype], "y")
    assert_close(h_n[0], want_h.numpy(), RTOL[dtype], "h")


# Variants torch lacks, against the NumPy reference: (class, constructor options, reference mode and options)
REFERENCE_ONLY = {
    "gru_reset_before": (fastrnn.GRU, {"linear_before_reset": False}, "GRU", {"linear_before_reset": False}),
    "lstm_peephole": (fastrnn.LSTM, {"peephole": True}, "LSTM", {"peephole": True}),
    "lstm_proj_stack": (fastrnn.LSTM, {"proj_size": 7, "num_layers": 2}, "LSTM", {"proj_size": 7}),
}


@pytest.mark.parametrize("B", [1, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(REFERENCE_ONLY))
def test_other_variants_match_the_reference(name, dtype, B, rng):
    cls, options, mode, ref_options = REFERENCE_ONLY[name]
    I, H = 9, 33
    layer = cls(I, H, dtype=dtype, seed=1, **options)
    xs = rng.standard_normal((STEPS, B, I)).astype(dtype)
    ys, state = step_through(layer, xs)
    expected, expected_state = reference.rnn_forward(mode, xs, layer.state_dict(), hidden_size=H,
                                                     num_layers=layer.num_layers, **ref_options)
    assert_close(ys, expected, RTOL[dtype], "outputs")
    for got, want in zip(as_tuple(state), as_tuple(expected_state)):
        assert_close(got, want, RTOL[dtype], "state")


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh"])
def test_in_place_parameter_changes_are_seen_by_the_next_step(name, rng):
    """The kernel reads W where it lives: every parameter changed in place (numpy in-place ops, slice assignment,
    np.copyto) between two fast steps changes the next step exactly as the reference says."""
    cls, _, options = TORCH_CELLS[name]
    layer = cls(6, 16, num_layers=2, seed=0, **options)
    x = rng.standard_normal((1, 6)).astype(np.float32)
    _, state = layer.step(x)
    layer.step(x, state)                                           # warm: the next steps take the fast path
    mode = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}[name]
    changes = [lambda p: p["weight_ih_l0"].__imul__(1.5), lambda p: p["weight_hh_l1"].__setitem__(slice(0, 3), 0.25),
               lambda p: np.copyto(p["bias_hh_l0"], 0.5), lambda p: p["bias_ih_l1"].__iadd__(-1.0)]
    for change in changes:
        change(layer.params)
        y, _ = layer.step(x, state)
        want, _ = reference.rnn_forward(mode, x[None], layer.state_dict(), hidden_size=16, num_layers=2, hx=state)
        assert_close(y, want[0], RTOL[np.float32], "after an in-place change")


def test_threads_step_one_layer_concurrently(rng):
    """Threads each stepping their own sequence through one layer (their own runners, batch sizes 1 and 3) get
    what the same sequences give stepped one after the other."""
    layer = fastrnn.LSTM(12, 64, num_layers=2, seed=3)
    sequences = [rng.standard_normal((40, 1 + 2 * (k % 2), 12)).astype(np.float32) for k in range(6)]
    expected = [step_through(layer, xs)[0] for xs in sequences]
    results = [None] * len(sequences)
    start = threading.Barrier(len(sequences))

    def run(k):
        start.wait()
        results[k] = step_through(layer, sequences[k])[0]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(sequences))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_step_is_the_compiled_entry_and_keeps_its_signature():
    """Layer.step is the compiled one-call entry (no Python frame on the fast path), with step()'s documented
    signature and docstring."""
    import inspect
    from fastrnn import _kernels
    assert fastrnn.LSTM.step is _kernels.layer_step
    assert list(inspect.signature(fastrnn.GRU.step).parameters) == ["self", "x_t", "state"]
    assert "One time step" in fastrnn.RNN.step.__doc__


@pytest.mark.parametrize("bad, error, match", [
    (lambda x, s: (x[:, :-1], s), ValueError, r"x_t has shape"),
    (lambda x, s: (x.astype(np.int64), s), TypeError, r"x_t must be a float32 or float64 array"),
    (lambda x, s: (np.asfortranarray(x), s), None, None),                # converted, then stepped
    (lambda x, s: (x.astype(">f4"), s), None, None),
    (lambda x, s: (x, (s[0][:, :, ::2], s[1])), ValueError, r"h0"),
    (lambda x, s: (x, (np.full_like(s[0], np.nan), s[1])), ValueError, r"h0 contains NaN"),
    (lambda x, s: (np.full_like(x, np.inf), s), ValueError, r"x_t"),
    (lambda x, s: (x, s[0]), TypeError, r"hx of an LSTM"),
])
def test_bad_input_after_fast_steps_still_raises_clear_errors(bad, error, match, rng):
    layer = fastrnn.LSTM(8, 16, seed=0)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    _, state = layer.step(x)
    layer.step(x, state)                                           # the fast path is warm for B = 2
    args = bad(x, state)
    if error is None:
        y, _ = layer.step(*args)
        np.testing.assert_array_equal(y, layer.step(np.ascontiguousarray(args[0], np.float32), args[1])[0])
        return
    with pytest.raises(error, match=match):
        layer.step(*args)
