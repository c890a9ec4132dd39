"""The docstrings of RNN, LSTM and GRU, in torch's layout (Args / Inputs / Outputs), built from shared parts so
the three stay consistent. Letters: T steps, B batch, I input size, H hidden size, P = proj_size or H,
L layers, D = 2 if bidirectional else 1."""

_ARGS = """
    Args:
        input_size: I, the number of features of x.
        hidden_size: H, the number of features of the hidden state.
        num_layers: L, recurrent layers stacked (each takes the previous one's output). Default: 1
{own_args}        bias: False drops bias_ih and bias_hh. Default: True
        batch_first: True takes and returns (B, T, feature) instead of (T, B, feature). Default: False
        dropout: probability of zeroing each output of every layer but the last, applied by forward_train in
            training mode (train(); eval() turns it off); never by calls. Default: 0
        bidirectional: True adds a reverse-direction layer beside each layer. Default: False
        device: "cpu" or None (fastrnn runs on the CPU).
        dtype: np.float32 (default) or np.float64, also as a name or torch.float32 / torch.float64.
        merge_mode (keyword): how the two directions' outputs combine: "concat" (torch), "sum", "mean", "mul".
{own_keywords}        seed, rng (keywords): the random initialisation, torch's uniform(-1/sqrt(H), 1/sqrt(H)).
"""

_INPUTS = """
    Inputs: x, hx, lengths
        x: (T, B, I), (B, T, I) with batch_first, or (T, I) for one unbatched sequence.
        hx: {hx}; None for zeros.
        lengths: (B,) ints in [1, T] or None: packed-sequence semantics (outputs past a row's length are zero,
            the final state is the state at its last step; the reverse direction starts at each row's end).
"""

_OUTPUTS = """
    Outputs: out, {state_name}
        out: (T, B, D * {out_size}) (batch_first: (B, T, D * {out_size})), the last layer's output at every step;
            merge_mode "sum", "mean" or "mul" give (T, B, {out_size}).
        {state}

    Other methods: step(x_t, state) for one time step (streaming), forward_train / backward, state_dict /
    load_state_dict under torch's names, from_torch, from_state_dict, and torch's habits (eval, train, to,
    float, double, parameters, named_parameters, the weights as attributes such as layer.weight_ih_l0).
"""


def layer_doc(summary, own_args="", own_keywords="", hx="", state_name="h_n", out_size="H", state=""):
    return summary + _ARGS.format(own_args=own_args, own_keywords=own_keywords) + \
        _INPUTS.format(hx=hx) + _OUTPUTS.format(state_name=state_name, out_size=out_size, state=state)


RNN = layer_doc(
    """Elman RNN, torch.nn.RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.
""",
    own_args="        nonlinearity: \"tanh\" or \"relu\". Default: \"tanh\"\n",
    hx="h0 (L*D, B, H), or (L*D, H) with unbatched x",
    state="h_n: (L*D, B, H), the final hidden state of every layer and direction.")

LSTM = layer_doc(
    """LSTM, torch.nn.LSTM, with optional projection (proj_size) and diagonal peepholes (peephole=True).

    Gate rows [i, f, g, o]: i = s(a_i + p_i c), f = s(a_f + p_f c), g = tanh(a_g), c' = f c + i g,
    o = s(a_o + p_o c'), h' = o tanh(c'), with a = W_ih x + b_ih + W_hh h + b_hh, s = sigmoid, p the peepholes
    (weight_peephole_l{k}[_reverse] (3, H), rows [i, f, o]); with proj_size > 0, h' = W_hr (o tanh(c')).
""",
    own_args="        proj_size: P > 0 projects h to P features (weight_hr). Default: 0\n",
    own_keywords="        peephole (keyword): diagonal peephole weights, as ONNX's and oneDNN's LSTM. Default: False\n",
    hx="the tuple (h0 (L*D, B, P), c0 (L*D, B, H)); unbatched x: (L*D, P) and (L*D, H)",
    state_name="(h_n, c_n)", out_size="P",
    state="(h_n, c_n): h_n (L*D, B, P) and c_n (L*D, B, H), the final states of every layer and direction.")

GRU = layer_doc(
    """GRU, torch.nn.GRU: gate rows [r, z, n], h' = (1 - z) n + z h.

    r = s(W_ir x + b_ir + W_hr h + b_hr), z = s(W_iz x + b_iz + W_hz h + b_hz), and
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)) (torch, linear_before_reset=True), or
    n = tanh(W_in x + b_in + W_hn (r h) + b_hn) (Cho et al. 2014, ONNX's default, linear_before_reset=False).
""",
    own_keywords="        linear_before_reset (keyword): torch's formula for n (True) or Cho et al.'s. Default: True\n",
    hx="h0 (L*D, B, H), or (L*D, H) with unbatched x",
    state="h_n: (L*D, B, H), the final hidden state of every layer and direction.")
