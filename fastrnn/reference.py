"""Plain-NumPy recurrent cells and sequence semantics: the executable spec of fastrnn.

Written apart from the kernels, as textbook code: a Python loop over time steps (and over batch rows when
`lengths` are given), one matmul per weight per step. It is the tests' oracle and the naive-NumPy baseline of
the benchmarks. It imports nothing but NumPy.

Letters: T steps, B batch, I input size, H hidden size, P size of h (proj_size or H), G gate rows,
L layers, D directions (2 if bidirectional else 1). Weights are in torch's layout and under torch's names:
weight_ih_l{k} (G*H, I), weight_hh_l{k} (G*H, P), bias_ih_l{k} (G*H,), bias_hh_l{k} (G*H,),
weight_hr_l{k} (P, H) (LSTM projection), weight_peephole_l{k} (3, H) (peephole LSTM, rows [i, f, o]);
suffix _reverse for the backward direction. s = sigmoid.

  RNN   h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu
  LSTM  rows [i, f, g, o]: i = s(a_i + p_i*c), f = s(a_f + p_f*c), g = tanh(a_g), c' = f*c + i*g,
        o = s(a_o + p_o*c'), h' = o*tanh(c'), with a = W_ih x + b_ih + W_hh h + b_hh, p the peepholes
        (zero without them); with a projection h' = W_hr (o*tanh(c')).
  GRU   rows [r, z, n]: r = s(W_ir x + b_ir + W_hr h + b_hr), z = s(W_iz x + b_iz + W_hz h + b_hz),
        linear_before_reset=True (torch):  n = tanh(W_in x + b_in + r*(W_hn h + b_hn))
        linear_before_reset=False (Cho):   n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)
        h' = (1 - z)*n + z*h
"""
import numpy as np

MODES = {"RNN": 1, "LSTM": 4, "GRU": 3}   # mode -> gate rows per hidden unit
MERGE_MODES = ("concat", "sum", "mean", "mul")


def sigmoid(a):
    """1 / (1 + exp(-a)), computed as the identical (1 + tanh(a/2)) / 2, which cannot overflow."""
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _or_zeros(b, rows, dtype):
    """A bias vector, or zeros (rows,) when it is None."""
    return np.zeros(rows, dtype) if b is None else b


# ------------------------------------------------------------------------------------------------- cells
def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh"):
    """Elman RNN step: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.

    x (B, I), h (B, H), w_ih (H, I), w_hh (H, H), b_ih (H,) or None, b_hh (H,) or None -> h' (B, H).
    """
    H = w_hh.shape[0]
    a = x @ w_ih.T + _or_zeros(b_ih, H, x.dtype) + h @ w_hh.T + _or_zeros(b_hh, H, x.dtype)   # (B, H)
    if nonlinearity == "tanh":
        return np.tanh(a)
    if nonlinearity == "relu":
        return np.maximum(a, 0)
    raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")


def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None, w_peephole=None):
    """LSTM step, gate rows [i, f, g, o], a = W_ih x + b_ih + W_hh h + b_hh:

        i = sigmoid(a_i + p_i*c)     f = sigmoid(a_f + p_f*c)     g = tanh(a_g)
        c' = f*c + i*g
        o = sigmoid(a_o + p_o*c')    h' = o*tanh(c')              (with w_hr: h' = W_hr (o*tanh(c')))

    The peepholes p = w_peephole rows [i, f, o] are zero when w_peephole is None; i and f see the old c,
    o sees the new c'.
    x (B, I), h (B, P), c (B, H), w_ih (4H, I), w_hh (4H, P), b_ih (4H,) or None, b_hh (4H,) or None,
    w_hr (P, H) or None (then P = H), w_peephole (3, H) or None -> (h' (B, P), c' (B, H)).
    """
    G = w_hh.shape[0]
    a = x @ w_ih.T + _or_zeros(b_ih, G, x.dtype) + h @ w_hh.T + _or_zeros(b_hh, G, x.dtype)   # (B, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)                                              # (B, H) each
    if w_peephole is not None:
        p_i, p_f, p_o = w_peephole                                                           # (H,) each
        a_i, a_f = a_i + p_i * c, a_f + p_f * c
    i, f, g = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g)
    c_new = f * c + i * g
    o = sigmoid(a_o if w_peephole is None else a_o + p_o * c_new)
    h_new = o * np.tanh(c_new)                                                               # (B, H)
    if w_hr is not None:
        h_new = h_new @ w_hr.T                                                               # (B, P)
    return h_new, c_new


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, linear_before_reset=True):
    """GRU step, gate rows [r, z, n]:

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r*(W_hn h + b_hn))        linear_before_reset=True (torch, cuDNN)
        n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)        linear_before_reset=False (Cho et al. 2014)
        h' = (1 - z)*n + z*h

    x (B, I), h (B, H), w_ih (3H, I), w_hh (3H, H), b_ih (3H,) or None, b_hh (3H,) or None -> h' (B, H).
    """
    G = w_hh.shape[0]
    b_ir, b_iz, b_in = np.split(_or_zeros(b_ih, G, x.dtype), 3)   # (H,) each
    b_hr, b_hz, b_hn = np.split(_or_zeros(b_hh, G, x.dtype), 3)   # (H,) each
    w_ir, w_iz, w_in = np.split(w_ih, 3)                          # (H, I) each
    w_hr, w_hz, w_hn = np.split(w_hh, 3)                          # (H, H) each
    r = sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    if linear_before_reset:
        n = np.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
    else:
        n = np.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    return (1 - z) * n + z * h


# ------------------------------------------------------------------------------------------- sequences
def rnn_forward(mode, x, weights, *, hidden_size, num_layers=1, bidirectional=False, proj_size=0,
                nonlinearity="tanh", linear_before_reset=True, peephole=False, bias=True, batch_first=False,
                hx=None, lengths=None, merge_mode="concat"):
    """Run a stacked (bi)directional RNN, LSTM or GRU over a sequence, as torch.nn.{RNN, LSTM, GRU} does.

    mode "RNN", "LSTM" or "GRU"; x (T, B, I), or (B, T, I) with batch_first; weights {torch name: array}
    (see the module docstring; bias_* used only with bias=True, weight_hr_* only with proj_size > 0,
    weight_peephole_* only with peephole=True). hx: None (zeros), h0 (L*D, B, P), or for LSTM (h0, c0) with
    c0 (L*D, B, H). Rows of h0 are ordered layer by layer, forward direction before reverse.

    lengths (B,) ints in any order, torch's packed-sequence semantics: row b is valid for t < lengths[b];
    outputs at t >= lengths[b] are zero; the final state of row b is its state after its own last step; the
    reverse direction starts at each row's own end (t = lengths[b] - 1 down to 0).

    Every layer after the first sees the concatenated directions (D*P); merge_mode ("concat", "sum", "mean",
    "mul") merges the two directions of the last layer's returned output only.
    Computes in x's dtype (weights and states are cast to it).
    Returns (out, h_n) for RNN/GRU and (out, (h_n, c_n)) for LSTM: out (T, B, D*P) ((B, T, D*P) with
    batch_first; D*P becomes P for merge modes other than concat), h_n (L*D, B, P), c_n (L*D, B, H).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    if merge_mode not in MERGE_MODES:
        raise ValueError(f"merge_mode must be one of {MERGE_MODES}; got {merge_mode!r}")
    x = np.asarray(x)
    dtype = x.dtype
    if batch_first:
        x = x.transpose(1, 0, 2)                                            # (T, B, I)
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    P, H = proj_size or hidden_size, hidden_size
    states = _initial_states(mode, hx, num_layers * D, B, P, H, dtype)      # per (layer, direction): tuple
    cell_options = dict(mode=mode, bias=bias, proj=proj_size > 0, peephole=peephole, nonlinearity=nonlinearity,
                        linear_before_reset=linear_before_reset)
    layer_input = x
    for layer in range(num_layers):
        out = np.zeros((T, B, D * P), dtype)                                # (T, B, D*P)
        for d in range(D):
            k = layer * D + d
            step = _make_step(weights, _suffix(layer, d), dtype, **cell_options)
            states[k] = _run_direction(step, layer_input, states[k], lengths, d == 1, out[:, :, d * P:(d + 1) * P])
        layer_input = out
    out = _merge(layer_input, D, P, merge_mode)
    if batch_first:
        out = out.transpose(1, 0, 2)
    h_n = np.stack([s[0] for s in states])                                  # (L*D, B, P)
    if mode == "LSTM":
        return out, (h_n, np.stack([s[1] for s in states]))                 # c_n (L*D, B, H)
    return out, h_n


def _suffix(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _initial_states(mode, hx, LD, B, P, H, dtype):
    """A list of L*D states, each (h (B, P),) or for LSTM (h (B, P), c (B, H))."""
    shapes = [(LD, B, P), (LD, B, H)] if mode == "LSTM" else [(LD, B, P)]   # h0, [c0]
    if hx is None:
        parts = [np.zeros(shape, dtype) for shape in shapes]
    else:
        parts = hx if mode == "LSTM" else (hx,)
    return [tuple(np.asarray(part[k], dtype) for part in parts) for k in range(LD)]


def _make_step(weights, sfx, dtype, *, mode, bias, proj, peephole, nonlinearity, linear_before_reset):
    """step(x_t (B, I), state tuple) -> new state tuple, for one layer and direction; its output is state[0]."""
    def get(name, used=True):
        return np.asarray(weights[name + sfx], dtype) if used else None
    w_ih, w_hh, b_ih, b_hh = get("weight_ih"), get("weight_hh"), get("bias_ih", bias), get("bias_hh", bias)
    if mode == "LSTM":
        w_hr, w_peephole = get("weight_hr", proj), get("weight_peephole", peephole)
        return lambda x, state: lstm_cell(x, *state, w_ih, w_hh, b_ih, b_hh, w_hr, w_peephole)
    if mode == "GRU":
        return lambda x, state: (gru_cell(x, *state, w_ih, w_hh, b_ih, b_hh, linear_before_reset),)
    return lambda x, state: (rnn_cell(x, *state, w_ih, w_hh, b_ih, b_hh, nonlinearity),)


def _run_direction(step, x, state, lengths, reverse, out):
    """Run one layer in one direction; writes out (T, B, P) and returns the final state.

    Without lengths the whole batch steps together over all T steps; with lengths each row b runs alone
    over its own lengths[b] steps (the rest of out stays zero).
    """
    if lengths is None:
        return _run_rows(step, x, state, reverse, out)
    finals = [_run_rows(step, x[:n, b:b + 1], tuple(s[b:b + 1] for s in state), reverse, out[:n, b:b + 1])
              for b, n in enumerate(np.asarray(lengths).tolist())]
    return tuple(np.concatenate(parts) for parts in zip(*finals))


def _run_rows(step, x, state, reverse, out):
    """The time loop: x (T, B', I), state tuple of (B', .) -> final state; writes out (T, B', P)."""
    steps = range(x.shape[0])
    for t in (reversed(steps) if reverse else steps):
        state = step(x[t], state)
        out[t] = state[0]
    return state


def _merge(out, D, P, merge_mode):
    """out (T, B, D*P) -> the directions merged by merge_mode: (T, B, D*P) for concat, else (T, B, P)."""
    if D == 1 or merge_mode == "concat":
        return out
    fwd, bwd = out[..., :P], out[..., P:]
    if merge_mode == "sum":
        return fwd + bwd
    if merge_mode == "mean":
        return (fwd + bwd) / 2
    return fwd * bwd


# ------------------------------------------------------------------------------------------------ weights
def init_weights(mode, input_size, hidden_size, *, num_layers=1, bidirectional=False, proj_size=0,
                 peephole=False, bias=True, dtype=np.float32, rng=None):
    """torch-style initial weights {torch name: array}: every entry uniform in [-1/sqrt(H), 1/sqrt(H)].

    Shapes: weight_ih (G*H, I) for layer 0 and (G*H, D*P) above it, weight_hh (G*H, P), biases (G*H,),
    weight_hr (P, H) when proj_size > 0, weight_peephole (3, H) when peephole; G = 1, 4, 3 for RNN, LSTM, GRU.
    rng: a numpy Generator (default: a fresh unseeded one).
    """
    rng = np.random.default_rng() if rng is None else rng
    G, H, P, D = MODES[mode] * hidden_size, hidden_size, proj_size or hidden_size, 2 if bidirectional else 1
    shapes = {}
    for layer in range(num_layers):
        for d in range(D):
            sfx = _suffix(layer, d)
            shapes["weight_ih" + sfx] = (G, input_size if layer == 0 else D * P)
            shapes["weight_hh" + sfx] = (G, P)
            if bias:
                shapes["bias_ih" + sfx] = (G,)
                shapes["bias_hh" + sfx] = (G,)
            if proj_size:
                shapes["weight_hr" + sfx] = (P, H)
            if peephole:
                shapes["weight_peephole" + sfx] = (3, H)
    bound = 1 / np.sqrt(hidden_size)
    return {name: rng.uniform(-bound, bound, shape).astype(dtype) for name, shape in shapes.items()}
