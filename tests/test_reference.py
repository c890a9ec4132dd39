"""fastrnn.reference (the plain-NumPy spec) against torch, and against hand-expanded scalar formulas where torch
has no such cell (peephole LSTM, GRU with linear_before_reset=False).

Tolerance: conftest.RTOL (float32 2e-5, float64 1e-10, relative to max(1, |expected|)).
"""
import itertools
import math

import numpy as np
import pytest

from conftest import RTOL, assert_close, require_torch
from fastrnn import reference

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

T, B, I, H, P = 7, 4, 5, 6, 3
LENGTHS = np.array([3, T, 1, 5])   # unsorted, one full-length row

# Cell variants torch has: name -> (mode, options taken alike by reference.rnn_forward and torch.nn.<mode>)
CELLS = {
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": P}),
    "gru": ("GRU", {}),
}


@pytest.fixture(scope="module")
def torch():
    """torch on one thread: on these tiny problems its OpenMP workers only spin against other processes
    (measured here on a loaded 2-core machine: 1.4 ms per call on one thread, 50 ms on two)."""
    torch = require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def torch_forward(torch, mode, weights, x, hx, lengths, *, batch_first, **options):
    """torch.nn.<mode> with these weights: (out zero-padded past lengths, state) as NumPy."""
    module = getattr(torch.nn, mode)(**options, batch_first=batch_first)
    module = module.double() if x.dtype == np.float64 else module
    module.load_state_dict({name: torch.from_numpy(w) for name, w in weights.items()})
    tx = torch.from_numpy(x)
    if lengths is not None:
        tx = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=batch_first,
                                                     enforce_sorted=False)
    if hx is not None:
        hx = tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx)
    with torch.no_grad():
        out, state = module(tx, hx)
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    state = tuple(s.numpy() for s in state) if isinstance(state, tuple) else state.numpy()
    return out.numpy(), state


def random_case(rng, mode, dtype, *, num_layers, bidirectional, bias, batch_first, with_hx, proj_size=0,
                peephole=False):
    """(weights, x, hx) for a random problem of the module's sizes."""
    weights = reference.init_weights(mode, I, H, num_layers=num_layers, bidirectional=bidirectional,
                                     proj_size=proj_size, peephole=peephole, bias=bias, dtype=dtype, rng=rng)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    LD = num_layers * (2 if bidirectional else 1)
    hx = None
    if with_hx:
        h0 = rng.standard_normal((LD, B, proj_size or H)).astype(dtype)
        hx = (h0, rng.standard_normal((LD, B, H)).astype(dtype)) if mode == "LSTM" else h0
    return weights, x, hx


def assert_state_close(got, want, dtype):
    for g, w, what in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,),
                          ("h_n", "c_n")):
        assert g.dtype == dtype
        assert_close(g, w, RTOL[dtype], what)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first,with_hx,with_lengths", list(itertools.product([False, True], repeat=3)))
def test_matches_torch(cell, num_layers, bidirectional, bias, batch_first, with_hx, with_lengths, dtype, rng, torch):
    mode, options = CELLS[cell]
    config = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    weights, x, hx = random_case(rng, mode, dtype, batch_first=batch_first, with_hx=with_hx,
                                 proj_size=options.get("proj_size", 0), **config)
    lengths = LENGTHS if with_lengths else None
    want_out, want_state = torch_forward(torch, mode, weights, x, hx, lengths, input_size=I, hidden_size=H,
                                         batch_first=batch_first, **config, **options)
    out, state = reference.rnn_forward(mode, x, weights, hidden_size=H, batch_first=batch_first, hx=hx,
                                       lengths=lengths, **config, **options)
    assert out.dtype == dtype
    assert_close(out, want_out, RTOL[dtype], "output")
    assert_state_close(state, want_state, dtype)


@pytest.mark.parametrize("merge_mode,merge", [("sum", np.add), ("mean", lambda a, b: (a + b) / 2),
                                              ("mul", np.multiply)])
def test_merge_modes_merge_the_last_layer_only(merge_mode, merge, dtype, rng, torch):
    """torch has only concat: its two halves of the last layer's output, merged by hand, give the answer."""
    config = dict(num_layers=2, bidirectional=True, bias=True)
    weights, x, hx = random_case(rng, "LSTM", dtype, batch_first=False, with_hx=True, **config)
    want_out, want_state = torch_forward(torch, "LSTM", weights, x, hx, LENGTHS, input_size=I, hidden_size=H,
                                         batch_first=False, **config)
    out, state = reference.rnn_forward("LSTM", x, weights, hidden_size=H, hx=hx, lengths=LENGTHS,
                                       merge_mode=merge_mode, **config)
    assert_close(out, merge(want_out[..., :H], want_out[..., H:]), RTOL[dtype], "merged output")
    assert_state_close(state, want_state, dtype)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_init_weights_has_torch_names_shapes_and_bound(cell, bidirectional, dtype, torch):
    mode, options = CELLS[cell]
    module = getattr(torch.nn, mode)(I, H, num_layers=2, bidirectional=bidirectional, **options)
    weights = reference.init_weights(mode, I, H, num_layers=2, bidirectional=bidirectional,
                                     proj_size=options.get("proj_size", 0), dtype=dtype,
                                     rng=np.random.default_rng(0))
    assert {k: w.shape for k, w in weights.items()} == {k: tuple(t.shape) for k, t in module.state_dict().items()}
    assert list(weights) == list(module.state_dict())
    for w in weights.values():
        assert w.dtype == dtype
        assert np.abs(w).max() <= 1 / math.sqrt(H)


# ---------------------------------------------------------------------------------------------------------------
# Cells torch lacks, against the formulas written out one scalar at a time (x, h, c: lists of floats of one row):
#   LSTM peephole, rows [i, f, g, o] of a_q = sum_k W_ih[q, k] x[k] + b_ih[q] + sum_k W_hh[q, k] h[k] + b_hh[q]:
#     i_j = sig(a_{i,j} + p[0, j] c_j), f_j = sig(a_{f,j} + p[1, j] c_j), g_j = tanh(a_{g,j}),
#     c'_j = f_j c_j + i_j g_j, o_j = sig(a_{o,j} + p[2, j] c'_j), m_j = o_j tanh(c'_j),
#     h'_q = sum_j W_hr[q, j] m_j (or h' = m without projection)
#   GRU reset-before, rows [r, z, n]: r_j = sig(xi_{r,j} + hh_{r,j}), z_j = sig(xi_{z,j} + hh_{z,j}) with
#     xi_q = sum_k W_ih[q, k] x[k] + b_ih[q], hh_q = sum_k W_hh[q, k] h[k] + b_hh[q];
#     n_j = tanh(xi_{n,j} + sum_k W_hh[2H + j, k] r_k h_k + b_hh[2H + j]), h'_j = (1 - z_j) n_j + z_j h_j
# ---------------------------------------------------------------------------------------------------------------
def sig(a):
    return 1.0 / (1.0 + math.exp(-a))


def affine(w, b, v, q):
    """Row q of W v + b, summed one product at a time."""
    return sum(float(w[q, k]) * v[k] for k in range(len(v))) + float(b[q])


def scalar_lstm_peephole(x, h, c, w):
    """One row of one peephole LSTM step: (h', c') as lists. w: this direction's arrays by short name."""
    hid = len(c)
    a = [affine(w["w_ih"], w["b_ih"], x, q) + affine(w["w_hh"], w["b_hh"], h, q) for q in range(4 * hid)]
    p = w["w_peephole"]
    c_new, m = [], []
    for j in range(hid):
        i = sig(a[j] + p[0, j] * c[j])
        f = sig(a[hid + j] + p[1, j] * c[j])
        g = math.tanh(a[2 * hid + j])
        c_new.append(f * c[j] + i * g)
        o = sig(a[3 * hid + j] + p[2, j] * c_new[j])
        m.append(o * math.tanh(c_new[j]))
    if w["w_hr"] is None:
        return m, c_new
    return [sum(float(w["w_hr"][q, j]) * m[j] for j in range(hid)) for q in range(len(w["w_hr"]))], c_new


def scalar_gru_reset_before(x, h, w):
    """One row of one GRU step with linear_before_reset=False: h' as a list."""
    hid = len(h)
    xi = [affine(w["w_ih"], w["b_ih"], x, q) for q in range(3 * hid)]
    hh = [affine(w["w_hh"], w["b_hh"], h, q) for q in range(2 * hid)]
    r = [sig(xi[j] + hh[j]) for j in range(hid)]
    z = [sig(xi[hid + j] + hh[hid + j]) for j in range(hid)]
    rh = [r[k] * h[k] for k in range(hid)]
    n = [math.tanh(xi[2 * hid + j] + affine(w["w_hh"], w["b_hh"], rh, 2 * hid + j)) for j in range(hid)]
    return [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(hid)]


def direction_weights(weights, sfx):
    """This direction's arrays under the scalar functions' short names (absent ones None)."""
    names = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
             "w_hr": "weight_hr", "w_peephole": "weight_peephole"}
    return {short: weights.get(name + sfx) for short, name in names.items()}


def rows(a, b):
    """Row b of a (B, n) array as a list of Python floats."""
    return [float(v) for v in a[b]]


@pytest.mark.parametrize("proj_size", [0, P])
def test_lstm_peephole_cell_matches_scalar_formulas(proj_size, dtype, rng):
    weights, x, (h0, c0) = random_case(rng, "LSTM", dtype, num_layers=1, bidirectional=False, bias=True,
                                       batch_first=False, with_hx=True, proj_size=proj_size, peephole=True)
    w = direction_weights(weights, "_l0")
    h, c = reference.lstm_cell(x[0], h0[0], c0[0], **w)
    for b in range(B):
        want_h, want_c = scalar_lstm_peephole(rows(x[0], b), rows(h0[0], b), rows(c0[0], b), w)
        assert_close(h[b], want_h, RTOL[dtype], f"h' row {b}")
        assert_close(c[b], want_c, RTOL[dtype], f"c' row {b}")


def test_gru_reset_before_cell_matches_scalar_formulas(dtype, rng):
    weights, x, h0 = random_case(rng, "GRU", dtype, num_layers=1, bidirectional=False, bias=True,
                                 batch_first=False, with_hx=True)
    w = direction_weights(weights, "_l0")
    h = reference.gru_cell(x[0], h0[0], w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"], linear_before_reset=False)
    for b in range(B):
        assert_close(h[b], scalar_gru_reset_before(rows(x[0], b), rows(h0[0], b), w), RTOL[dtype], f"row {b}")


def scalar_sequence(step, x, state, reverse):
    """Chain a scalar step over the rows x[t] of one batch row; outputs (T, n) in time order and final state."""
    out = [None] * len(x)
    for t in (reversed(range(len(x))) if reverse else range(len(x))):
        state = step(x[t], *state)
        out[t] = state[0]
    return np.array(out), state


# variant -> (mode, weights of one direction -> scalar step(x_t, *state) -> new state tuple)
SCALAR_STEPS = {
    "lstm_peephole": ("LSTM", lambda w: lambda xt, h, c: scalar_lstm_peephole(xt, h, c, w)),
    "gru_reset_before": ("GRU", lambda w: lambda xt, h: (scalar_gru_reset_before(xt, h, w),)),
}


@pytest.mark.parametrize("variant", list(SCALAR_STEPS))
def test_sequence_wires_torchless_cells(variant, dtype, rng):
    """rnn_forward (bidirectional, h0 given) == the scalar cells chained forward and backward, row by row."""
    mode, make_step = SCALAR_STEPS[variant]
    config = dict(num_layers=1, bidirectional=True, bias=True, peephole=mode == "LSTM")
    weights, x, hx = random_case(rng, mode, dtype, batch_first=False, with_hx=True, **config)
    out, state = reference.rnn_forward(mode, x, weights, hidden_size=H, hx=hx, linear_before_reset=False, **config)
    initial, final = (hx, state) if mode == "LSTM" else ((hx,), (state,))
    for d, sfx in enumerate(["_l0", "_l0_reverse"]):
        step = make_step(direction_weights(weights, sfx))
        for b in range(B):
            want_out, want_final = scalar_sequence(step, [rows(x[t], b) for t in range(T)],
                                                   tuple(rows(s[d], b) for s in initial), d == 1)
            assert_close(out[:, b, d * H:(d + 1) * H], want_out, RTOL[dtype], f"output direction {d} row {b}")
            for got, want, what in zip(final, want_final, ("h_n", "c_n")):
                assert_close(got[d, b], want, RTOL[dtype], f"{what} direction {d} row {b}")
