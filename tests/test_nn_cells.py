"""fastrnn.LSTMCell, GRUCell and RNNCell against torch's cells: (B, H) and unbatched (H,) states, hx=None,
loading from state dicts and live cells, a torch cell loop running unchanged, and bad input. Tolerances: RTOL."""
import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch

CELLS = {   # name -> (fastrnn class, torch class name, options of both)
    "lstm": (fastrnn.LSTMCell, "LSTMCell", {}),
    "gru": (fastrnn.GRUCell, "GRUCell", {}),
    "rnn_tanh": (fastrnn.RNNCell, "RNNCell", {}),
    "rnn_relu": (fastrnn.RNNCell, "RNNCell", {"nonlinearity": "relu"}),
}


def torch_cell(torch, name, dtype, bias=True, input_size=5, hidden_size=4):
    _, torch_name, options = CELLS[name]
    torch.manual_seed(0)
    cell = getattr(torch.nn, torch_name)(input_size, hidden_size, bias=bias, **options)
    return cell.to(torch.float64 if dtype == np.float64 else torch.float32)


def as_torch(torch, value):
    if isinstance(value, tuple):
        return tuple(torch.from_numpy(v) for v in value)
    return None if value is None else torch.from_numpy(value)


def as_numpy(value):
    if isinstance(value, tuple):
        return tuple(v.detach().numpy() for v in value)
    return value.detach().numpy()


def random_state(name, shape, rng, dtype):
    if name == "lstm":
        return tuple(rng.standard_normal(shape).astype(dtype) for _ in range(2))
    return rng.standard_normal(shape).astype(dtype)


def assert_same_state(actual, expected, rtol):
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == 2
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol)
    else:
        assert_close(actual, expected, rtol)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", list(CELLS))
def test_cell_matches_torch_batched_and_unbatched(name, bias, dtype, rng):
    torch = require_torch()
    reference = torch_cell(torch, name, dtype, bias)
    cell = CELLS[name][0].from_torch(reference)
    assert cell.dtype == dtype and cell.bias == bias and (cell.input_size, cell.hidden_size) == (5, 4)
    for x_shape, h_shape in (((3, 5), (3, 4)), ((5,), (4,))):
        x = rng.standard_normal(x_shape).astype(dtype)
        for hx in (None, random_state(name, h_shape, rng, dtype)):
            with torch.no_grad():
                expected = as_numpy(reference(torch.from_numpy(x), as_torch(torch, hx)))
            assert_same_state(cell(x, hx), expected, RTOL[dtype])


@pytest.mark.parametrize("name", list(CELLS))
def test_torch_cell_loop_runs_unchanged(name, rng):
    """The same function drives a torch cell on tensors and a fastrnn cell on NumPy arrays."""
    torch = require_torch()

    def unroll(cell, xs, state):                    # written for torch: state (B, H) (or (h, c)), one step at a time
        outputs = []
        for t in range(xs.shape[0]):
            state = cell(xs[t], state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return outputs, state

    reference = torch_cell(torch, name, np.float32)
    xs = rng.standard_normal((6, 2, 5)).astype(np.float32)
    state = random_state(name, (2, 4), rng, np.float32)
    with torch.no_grad():
        expected, expected_state = unroll(reference, torch.from_numpy(xs), as_torch(torch, state))
    actual, actual_state = unroll(CELLS[name][0].from_torch(reference), xs, state)
    for a, e in zip(actual, expected):
        assert_close(a, e.numpy(), RTOL[np.float32])
    assert_same_state(actual_state, as_numpy(expected_state), RTOL[np.float32])


def test_cells_leave_states_alone_and_follow_loaded_weights(rng):
    torch = require_torch()
    cell = fastrnn.LSTMCell(5, 4, seed=1)
    x = rng.standard_normal((2, 5)).astype(np.float32)
    h, c = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2))
    saved = h.copy(), c.copy()
    cell(x, (h, c))
    assert np.array_equal(h, saved[0]) and np.array_equal(c, saved[1])
    reference = torch_cell(torch, "lstm", np.float32)
    cell.load_state_dict(reference.state_dict())                    # after a call: the next uses the new weights
    with torch.no_grad():
        expected = as_numpy(reference(torch.from_numpy(x), as_torch(torch, (h, c))))
    assert_same_state(cell(x, (h, c)), expected, RTOL[np.float32])
    assert set(cell.state_dict()) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}


def test_cell_from_state_dict_with_prefix_and_options(rng):
    torch = require_torch()
    reference = torch_cell(torch, "rnn_relu", np.float32)
    state = {f"decoder.cell.{k}": v for k, v in reference.state_dict().items()}
    cell = fastrnn.RNNCell.from_state_dict({"model": state}, prefix="model.decoder.cell.", nonlinearity="relu")
    assert cell.nonlinearity == "relu" and repr(cell) == "RNNCell(5, 4, nonlinearity='relu')"
    x = rng.standard_normal((3, 5)).astype(np.float32)
    with torch.no_grad():
        assert_close(cell(x), reference(torch.from_numpy(x)).numpy(), RTOL[np.float32])


def test_cell_refuses_other_architectures_state_dicts():
    torch = require_torch()
    torch.manual_seed(0)
    with pytest.raises(fastrnn.FormatError, match=r"unexpected key 'weight_ih_l0': a LSTMCell"):
        fastrnn.LSTMCell.from_state_dict(torch.nn.LSTM(5, 4).state_dict())
    with pytest.raises(fastrnn.FormatError, match=r"weight_hh has shape \(12, 4\): 3 gate block\(s\) of H = 4, "
                                                  r"the weights of a GRUCell, not of a LSTMCell"):
        fastrnn.LSTMCell.from_state_dict(torch.nn.GRUCell(5, 4).state_dict())
    with pytest.raises(fastrnn.FormatError, match=r"missing key 'cell.weight_hh'"):
        fastrnn.GRUCell.from_state_dict({"cell.weight_ih": np.ones((12, 5))}, prefix="cell.")
    with pytest.raises(fastrnn.FormatError, match=r"bias_ih present but bias_hh missing"):
        fastrnn.GRUCell.from_state_dict({k: v for k, v in torch.nn.GRUCell(5, 4).state_dict().items()
                                         if k != "bias_hh"})
    with pytest.raises(TypeError, match=r"GRUCell.from_torch needs a torch.nn.GRUCell; got LSTMCell"):
        fastrnn.GRUCell.from_torch(torch.nn.LSTMCell(5, 4))


def test_cell_bad_input():
    cell = fastrnn.LSTMCell(3, 2, seed=0)
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"input has shape \(4, 5\); expected \(B, I\) or \(I,\) with I = "
                                         r"input_size = 3"):
        cell(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"input has shape \(1, 4, 3\)"):
        cell(x[None])
    with pytest.raises(TypeError, match=r"hx of an LSTMCell must be None or a tuple \(h, c\)"):
        cell(x, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"c has shape \(3, 2\); expected \(B, H\) = \(4, 2\)"):
        cell(x, (np.zeros((4, 2), np.float32), np.zeros((3, 2), np.float32)))
    with pytest.raises(ValueError, match=r"hx has shape \(1, 2\); expected \(H,\) for unbatched input"):
        fastrnn.GRUCell(3, 2, seed=0)(x[0], np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="input contains NaN"):
        cell(np.full((4, 3), np.nan, np.float32))
    with pytest.raises(TypeError, match="input has dtype float64 but the layer computes in float32"):
        cell(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="device must be None or 'cpu'"):
        fastrnn.GRUCell(3, 2, device="cuda")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        fastrnn.RNNCell(3, 2, nonlinearity="sigmoid")


def test_cell_configuration_is_read_only():
    cell = fastrnn.RNNCell(3, 2, nonlinearity="relu", seed=0)
    for name, value in (("input_size", 4), ("hidden_size", 3), ("bias", False), ("nonlinearity", "tanh"),
                        ("dtype", np.float64)):
        with pytest.raises(AttributeError):
            setattr(cell, name, value)
    assert (cell.input_size, cell.hidden_size, cell.bias, cell.nonlinearity) == (3, 2, True, "relu")
