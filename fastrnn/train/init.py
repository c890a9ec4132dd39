"""Weight initialisers, and initialize() that applies a scheme to a state dict of torch-named arrays in place.

Shapes are torch's (fan_out, fan_in): weight_ih (G*H, I), weight_hh (G*H, P), Linear weight (O, I).
    orthogonal       Q from the QR decomposition of a standard normal matrix, columns' signs fixed by diag(R)
                     (uniform over orthogonal matrices; Saxe et al. 2014), times gain; for (r, c) with r >= c
                     Q^T Q = I, with r < c Q Q^T = I; blocks=G: each (H, P) gate block of (G*H, P) on its own.
    xavier_uniform   U(-a, a),  a = gain * sqrt(6 / (fan_in + fan_out))      (Glorot & Bengio 2010)
    xavier_normal    N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
"""
import re

import numpy as np

from .. import _validation as v

SCHEMES = ("orthogonal", "xavier_uniform", "xavier_normal")
# "<prefix><kind>[_l<k>[_reverse]]" as in torch state dicts of RNN/LSTM/GRU (and their Cells, without the
# suffix), with any module prefix ("lstm.")
_RECURRENT_KEY = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|weight_hr|weight_peephole|bias_ih|bias_hh)"
                            r"(?P<suffix>(?:_l\d+(?:_reverse)?)?)$")


def orthogonal(shape, gain=1.0, blocks=1, rng=None):
    """A float64 (r, c) matrix whose `blocks` row blocks (r/blocks, c) are each gain * (semi-)orthogonal."""
    rows, cols = _matrix_shape(shape)
    if blocks < 1 or rows % blocks:
        raise ValueError(f"blocks must divide the {rows} rows; got {blocks}")
    rng = np.random.default_rng(rng)
    r = rows // blocks
    parts = []
    for _ in range(blocks):
        q, upper = np.linalg.qr(rng.standard_normal((max(r, cols), min(r, cols))))  # q (max, min)
        q *= np.sign(np.diag(upper))
        parts.append(q if r >= cols else q.T)                                       # (r, cols)
    return gain * np.concatenate(parts, axis=0)


def xavier_uniform(shape, gain=1.0, rng=None):
    """A float64 (fan_out, fan_in) matrix, U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_out, fan_in = _matrix_shape(shape)
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).uniform(-bound, bound, (fan_out, fan_in))


def xavier_normal(shape, gain=1.0, rng=None):
    """A float64 (fan_out, fan_in) matrix, N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_out, fan_in = _matrix_shape(shape)
    std = gain * np.sqrt(2.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).normal(0.0, std, (fan_out, fan_in))


def initialize(state_dict, scheme="orthogonal", rng=None, forget_bias=1.0):
    """Re-initialise every array of a torch-named state dict in place; returns the dict.

    Works on a layer's live `params` (initialize(lstm.params)) or on a whole model's dict with prefixes
    ("lstm.weight_ih_l0", "head.weight"). Per key:
      weight_hh_l*   scheme "orthogonal": orthogonal per gate block (each of the G blocks (H, P) on its own);
                     "xavier_*": Xavier over the whole (G*H, P) matrix. (Keras' default instead draws its whole
                     (H, G*H) recurrent kernel as one semi-orthogonal matrix.)
      weight_ih_l*, weight_hr_l*, *weight (2-D, e.g. Linear)   Xavier: normal for "xavier_normal", else uniform
                     (Keras' glorot_uniform kernel default)
      bias_*, *bias, weight_peephole_l*   zero; except LSTM (G = 4, rows [i, f, g, o]): bias_ih's forget slice
                     [H:2H] = forget_bias and bias_hh's stays 0, so the cell sees b_ih + b_hh = forget_bias
                     (Jozefowicz et al. 2015; Keras unit_forget_bias). forget_bias=0 turns it off.
    rng: a np.random.Generator or a seed. Raises ValueError for a key it does not know.
    """
    v.check_choice(scheme, "scheme", SCHEMES)
    rng = np.random.default_rng(rng)
    xavier = xavier_normal if scheme == "xavier_normal" else xavier_uniform
    for key, arr in state_dict.items():
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"state dict entry {key!r} must be a NumPy array (updated in place); "
                            f"got {type(arr).__name__}")
        match = _RECURRENT_KEY.match(key)
        kind = match["kind"] if match else key.rsplit(".", 1)[-1]
        if kind == "weight_hh" and scheme == "orthogonal":
            value = orthogonal(arr.shape, blocks=_gates(state_dict, match), rng=rng)
        elif kind in ("weight_ih", "weight_hh", "weight_hr", "weight") and arr.ndim == 2:
            value = xavier(arr.shape, rng=rng)
        elif kind in ("bias_ih", "bias_hh", "weight_peephole", "bias"):
            value = np.zeros(arr.shape)
            if kind == "bias_ih" and _gates(state_dict, match) == 4:
                H = arr.shape[0] // 4
                value[H:2 * H] = forget_bias
        else:
            raise ValueError(f"initialize: no rule for state dict entry {key!r} with shape {arr.shape}")
        np.copyto(arr, value, casting="same_kind")
    return state_dict


def _gates(state_dict, match):
    """G (1 RNN, 3 GRU, 4 LSTM) of the recurrent layer a matched key belongs to: rows(W_hh) / H."""
    prefix, suffix = match["prefix"], match["suffix"]
    w_hh = state_dict.get(f"{prefix}weight_hh{suffix}")
    if w_hh is None:
        raise ValueError(f"initialize: {match.string!r} has no {prefix}weight_hh{suffix} beside it")
    w_hr = state_dict.get(f"{prefix}weight_hr{suffix}")
    hidden = w_hh.shape[1] if w_hr is None else w_hr.shape[1]  # weight_hr (P, H): H is its second axis
    return w_hh.shape[0] // hidden


def _matrix_shape(shape):
    shape = tuple(shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"initialisers take a 2-D shape (fan_out, fan_in); got {shape}")
    return shape
